"""The CPU one autograde costs, by kind of submission: the floor under `make test`'s time.

Each student is graded alone (runner.grade_student, the cgroup or best tier here) in one
fresh course folder holding a copy of a warmed training cache. For each: the wall time, the
CPU the whole machine spent while it ran (/proc/stat, minus the machine's own rate measured
for a few seconds before; on a quiet machine that is the grading's: nbgrader, the sandboxed
kernel, the verifier, and their start-ups), and nbgrader's own share (its process, from
getrusage). Run it on a quiet machine; it prints the machine's background rate so a busy one
shows. Writes benchmarks/results/grading_cpu.json.

    .venv/bin/python benchmarks/grading_cpu.py [--cache-from DIR] [STUDENT ...]

Without --cache-from it warms a cache first (``python -m course.training_cache warm``, two
real trainings, minutes). Default students: a cache hit (passes_all), a notebook with nothing
answered (untouched_release), a model Part 5 refuses (dense_only), and a correct model with a
key of its own that trains for real (week2_spellings_renamed_upload).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from course import runner  # noqa: E402
from course.context import GradingContext  # noqa: E402
from course.training_cache import DEFAULT_DIRNAME  # noqa: E402
from graders import ASSIGNMENT  # noqa: E402
from scenarios import sample_class  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the other benchmarks' helpers (benchmarks/ is not a package)
from class_throughput import warm  # noqa: E402
from grading import conv_throughput  # noqa: E402
from suite import git  # noqa: E402

RESULTS = HERE / "results" / "grading_cpu.json"
STUDENTS = [
    "passes_all",
    "untouched_release",
    "dense_only",
    "week2_spellings_renamed_upload",
]
BACKGROUND_S = 3.0


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent (all cores, everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def measure(course: Path, student: str, background: float) -> dict:
    grading = GradingContext.of(course)
    busy, own, start = busy_seconds(), own_seconds(), time.perf_counter()
    run = runner.grade_student(grading, student)
    wall = time.perf_counter() - start
    machine = busy_seconds() - busy - background * wall
    return {
        "ok": run.ok,
        "wall_s": round(wall, 1),
        "core_s": round(machine, 1),
        "nbgrader_core_s": round(own_seconds() - own, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("students", nargs="*", default=STUDENTS)
    parser.add_argument("--cache-from", type=Path, help="a warmed training cache to copy")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="c1w3-grading-cpu-"))
    try:
        (root / "course").mkdir()
        course = runner.make_course(root / "course")
        if args.cache_from:
            shutil.copytree(args.cache_from, course / DEFAULT_DIRNAME)
        else:
            warm(course / DEFAULT_DIRNAME)
        done = runner.nbgrader(GradingContext.of(course), "generate_assignment", ASSIGNMENT)
        assert done.returncode == 0, done.stdout + done.stderr
        sample_class.write_class(course, args.students, release_root=course)
        before = busy_seconds()
        time.sleep(BACKGROUND_S)
        background = (busy_seconds() - before) / BACKGROUND_S
        print(f"machine's background: {background:.2f} core-s per s (subtracted)")
        results = {}
        for student in args.students:
            results[student] = measure(course, student, background)
            r = results[student]
            print(
                f"{student:32s} {r['wall_s']:6.1f} s wall  {r['core_s']:6.1f} core-s "
                f"(nbgrader {r['nbgrader_core_s']} core-s)  {'graded' if r['ok'] else 'NOT graded'}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": git("describe", "--always", "--dirty", "--abbrev=7"),
        "conv_gflops": round(conv_throughput()),
        "background_core_s_per_s": round(background, 2),
        "students": results,
    }
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print(f"conv2d {record['conv_gflops']} GFLOP/s; written to {RESULTS}")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
