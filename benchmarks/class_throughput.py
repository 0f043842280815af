"""Class throughput on Dask: the same honest class graded with 1 worker, then 2 workers,
each on a fresh PostgreSQL gradebook (``make postgres`` first). Prints submissions per hour
and the peak RSS of one grading worker's whole tree (nbgrader, the sandboxed kernel, the
verifier), sampled every 0.2 s.

With ``--cache`` every course folder holds a warmed training cache (``.training_cache``,
issue 14): the honest students' trainings are cache hits. The cache is warmed once at the
start (``python -m course.training_cache warm``, timed), or copied from ``--cache-from DIR``
(e.g. the one benchmarks/grading.py warmed). Without ``--cache`` every student trains for
real. The batch's cache audit (course/grade.py, after grading) is not part of this timing.

    .venv/bin/python benchmarks/class_throughput.py [--students N] [--workers 1 2]
        [--cache [--cache-from DIR]]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import psutil  # noqa: E402

from course import audit, cluster, gradebook, runner  # noqa: E402
from course.context import GradingContext
from course.layout import COURSE_ROOT
from course.training_cache import DEFAULT_DIRNAME  # noqa: E402
from graders import ASSIGNMENT  # noqa: E402
from scenarios import sample_class  # noqa: E402

SERVER = os.environ.get("C1W3_TEST_POSTGRES", "postgresql://c1w3:c1w3@127.0.0.1:5432/postgres")
# Correct models (wrong_predictions: a correct model, wrong predict code); all three train
# exactly the lab's models, so with --cache both of their trainings are hits.
HONEST = ["passes_all", "course_input_shape_idiom", "wrong_predictions"]


class PeakPerWorker:
    """The largest RSS sum over one `nbgrader autograde` process (in `course`, so not another
    run's on a shared machine) and its descendants."""

    def __init__(self, course: Path):
        self.course = str(course)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                cmd = proc.info["cmdline"] or []
                if "autograde" in cmd and any(c.endswith("nbgrader") for c in cmd):
                    try:
                        if proc.cwd() != self.course:
                            continue
                        tree = [proc, *proc.children(recursive=True)]
                        self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
                    except psutil.Error:
                        pass
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def warm(folder: Path) -> float:
    """Fill `folder` with the instructor's trainings (the source notebook run once)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "course.training_cache", "warm", "--cache", str(folder)],
        cwd=COURSE_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    print(done.stdout.rstrip())
    return time.perf_counter() - start


def grade_once(
    names: list[str], workers: int, cache: Path | None = None
) -> tuple[float, int, float, int]:
    """(wall, submissions, peak RSS per worker in MB, students whose trainings all hit)."""
    course = runner.make_course(Path(tempfile.mkdtemp(prefix=f"bench-class-{workers}w-")))
    if cache is not None:
        shutil.copytree(cache, course / DEFAULT_DIRNAME)
    database = f"c1w3_bench_{uuid.uuid4().hex[:8]}"
    url = gradebook.create_database(SERVER, database)
    try:
        grading = GradingContext.of(course, db_url=url)
        done = runner.nbgrader(grading, "generate_assignment", ASSIGNMENT)
        assert done.returncode == 0, done.stdout + done.stderr
        students = []
        for i, name in enumerate(names):
            # several copies of the honest scenarios: distinct student ids, same work
            student = f"{name}_{i}"
            sample_class.write_class(course, [name], release_root=course)
            (course / "submitted" / name).rename(course / "submitted" / student)
            students.append(student)
        start = time.perf_counter()
        with PeakPerWorker(course) as peak:
            runs = cluster.grade_class_on_dask(grading, students, workers=workers)
        wall = time.perf_counter() - start
        assert all(r.ok for r in runs), [r for r in runs if not r.ok]
        hits = {
            s: audit.hit_keys(course / "autograded" / s / ASSIGNMENT / "_grading") for s in students
        }
        print(f"cache hits per student: { {s: len(k) for s, k in hits.items()} }", flush=True)
        all_hit = sum(len(keys) == 2 for keys in hits.values())  # the dense and conv trainings
        return wall, len(runs), peak.peak / 2**20, all_hit
    finally:
        gradebook.drop_database(SERVER, database)


def main() -> None:
    runner.show_progress()
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--cache", action="store_true", help="grade with a warmed training cache (hits)"
    )
    parser.add_argument(
        "--cache-from", type=Path, help="with --cache: a warmed cache folder to copy, no warm"
    )
    args = parser.parse_args()
    names = [HONEST[i % len(HONEST)] for i in range(args.students)]
    cache = None
    if args.cache:
        if args.cache_from:
            cache = args.cache_from.resolve()
            print(f"training cache copied from {cache}", flush=True)
        else:
            cache = Path(tempfile.mkdtemp(prefix="bench-cache-")) / DEFAULT_DIRNAME
            print(f"warmed the training cache {cache} in {warm(cache):.0f} s", flush=True)
        assert list(cache.glob("*/entry.json")), f"{cache} holds no entry"
    rows = []
    for workers in args.workers:
        wall, n, peak, hits = grade_once(names, workers, cache)
        rows.append((workers, wall, n, peak, hits))
        print(f"{workers} worker(s): {n} submissions in {wall:.0f} s, {hits} all hits", flush=True)
    mode = "warmed cache" if cache else "no cache: every training real"
    print(f"\ntraining cache: {mode}")
    print(
        "workers | submissions | all hits | wall | per submission | submissions/hour "
        "| peak RSS/worker"
    )
    for workers, wall, n, peak, hits in rows:
        print(
            f"{workers:7d} | {n:11d} | {hits:8d} | {wall:4.0f} s | {wall / n:12.1f} s | "
            f"{3600 * n / wall:16.1f} | {peak:.0f} MB"
        )


if __name__ == "__main__":
    main()
