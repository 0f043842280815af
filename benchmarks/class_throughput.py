"""Class throughput on Dask: the same honest class graded with 1 worker, then 2 workers,
each on a fresh PostgreSQL gradebook (``make postgres`` first). Prints submissions per hour
and the peak RSS of one grading worker's whole tree (nbgrader, the sandboxed kernel, the
verifier), sampled every 0.2 s.

    .venv/bin/python benchmarks/class_throughput.py [--students N] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import psutil  # noqa: E402

from course import cluster, gradebook, runner, sample_class  # noqa: E402
from graders import ASSIGNMENT  # noqa: E402

SERVER = os.environ.get("C1W3_TEST_POSTGRES", "postgresql://c1w3:c1w3@127.0.0.1:5432/postgres")
HONEST = ["passes_all", "course_input_shape_idiom", "wrong_predictions"]


class PeakPerWorker:
    """The largest RSS sum over one `nbgrader autograde` process and its descendants."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                cmd = proc.info["cmdline"] or []
                if "autograde" in cmd and any(c.endswith("nbgrader") for c in cmd):
                    try:
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


def grade_once(names: list[str], workers: int) -> tuple[float, int, float]:
    course = runner.make_course(Path(tempfile.mkdtemp(prefix=f"bench-class-{workers}w-")))
    database = f"c1w3_bench_{uuid.uuid4().hex[:8]}"
    url = gradebook.create_database(SERVER, database)
    try:
        done = runner.nbgrader(course, "generate_assignment", ASSIGNMENT, db_url=url)
        assert done.returncode == 0, done.stdout + done.stderr
        students = []
        for i in range(len(names)):
            # several copies of the honest scenarios: distinct student ids, same work
            name = names[i % len(HONEST)]
            student = f"{name}_{i}"
            sample_class.write_class(course, [name], release_root=course)
            (course / "submitted" / name).rename(course / "submitted" / student)
            students.append(student)
        start = time.perf_counter()
        with PeakPerWorker() as peak:
            runs = cluster.grade_class_on_dask(
                course, students, workers=workers, db_url=url, progress=True
            )
        wall = time.perf_counter() - start
        assert all(r.ok for r in runs), [r for r in runs if not r.ok]
        return wall, len(runs), peak.peak / 2**20
    finally:
        gradebook.drop_database(SERVER, database)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    names = [HONEST[i % len(HONEST)] for i in range(args.students)]
    rows = []
    for workers in args.workers:
        wall, n, peak = grade_once(names, workers)
        rows.append((workers, wall, n, peak))
        print(f"{workers} worker(s): {n} submissions in {wall:.0f} s", flush=True)
    print("\nworkers | submissions | wall | per submission | submissions/hour | peak RSS/worker")
    for workers, wall, n, peak in rows:
        print(
            f"{workers:7d} | {n:11d} | {wall:4.0f} s | {wall / n:12.0f} s | "
            f"{3600 * n / wall:16.1f} | {peak:.0f} MB"
        )


if __name__ == "__main__":
    main()
