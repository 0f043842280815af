"""What starting nbgrader costs, as a grading starts it (course/nbgrader_cli.py) beside plain
``nbgrader`` (the baseline), in the same run, alternating: wall and CPU seconds of
``--version`` (nbgrader's imports and nothing else), and of ``import nbformat`` alone.

    python benchmarks/process_start.py [--runs 7] [--out benchmarks/results/process_start.json]

Every grading of a student runs one nbgrader process (``autograde``), and a class grading a
few more (``generate_feedback``, ``export``); the saving is paid back once per process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from course import nbgrader_cli

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

COMMANDS = {
    "nbgrader --version (plain)": [str(BIN / "nbgrader"), "--version"],
    "nbgrader --version (course.nbgrader_cli)": nbgrader_cli.argv("--version"),
    "import nbformat (plain)": [sys.executable, "-c", "import nbformat"],
    "import nbformat (skipping the unused import)": [
        sys.executable,
        "-c",
        "from course.nbgrader_cli import skip_unused_imports as s; s(); import nbformat",
    ],
}


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{argv} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "process_start.json")
    args = parser.parse_args()
    samples = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # one unmeasured start each: files in the page cache
        measure(argv)
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():  # alternating: a slower minute hits both alike
            samples[name].append(measure(argv))
    rows = {}
    print(f"{'':46} {'wall s (median)':>16} {'CPU s (median)':>15}")
    for name, runs in samples.items():
        wall = round(statistics.median(w for w, _ in runs), 2)
        cpu = round(statistics.median(c for _, c in runs), 2)
        rows[name] = {"wall_s": wall, "cpu_s": cpu}
        print(f"{name:46} {wall:16.2f} {cpu:15.2f}")
    plain = rows["nbgrader --version (plain)"]["cpu_s"]
    saved = round(plain - rows["nbgrader --version (course.nbgrader_cli)"]["cpu_s"], 2)
    print(f"CPU saved per nbgrader process: {saved} s")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "rows": rows,
        "cpu_saved_per_process_s": saved,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
