"""Grading cost, printed as a table (numbers copied into the README):

* the in-kernel checks (architecture, shapes, parameter counts) and the accuracy child,
* autograding the reference submission with real nbgrader, N times: wall time and the peak
  RSS of nbgrader plus the student's kernel (GNU time, which sees waited-for descendants).

    .venv/bin/python benchmarks/grading.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from course import runner, sample_class  # noqa: E402
from graders import ASSIGNMENT  # noqa: E402


def timed(fn, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check_costs(model_path: Path) -> list[tuple[str, str]]:
    from graders import accuracy, hidden, reference

    import_start = time.perf_counter()
    import tensorflow as tf  # noqa: F401

    rows = [("TensorFlow import (in-process)", f"{time.perf_counter() - import_start:.1f} s")]
    reference.expected_layers("lab")  # warm the cache the kernel warms on first use

    def build():
        return reference_model_compiled(reference)

    answer = [(s, p) for _, s, p in reference.expected_layers("lab")]
    arch = timed(lambda: hidden.grade("conv_model_architecture", {"build_conv_model": build}))
    rows.append(("conv_model_architecture check (build + compare)", f"{arch:.3f} s"))
    ns = {"predicted_layers": answer, "predicted_total": 113_386}
    params = timed(lambda: hidden.grade("predict_param_counts", ns))
    rows.append(("predict_param_counts check", f"{params:.4f} s"))
    child = timed(lambda: accuracy.evaluate_saved_model(model_path), repeat=3)
    rows.append(("accuracy child (python -I, TF import, load, 10,000 images)", f"{child:.1f} s"))
    return rows


def reference_model_compiled(reference):
    model = reference.build(reference.variant("lab"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def autograde_runs(runs: int) -> tuple[list[float], list[int], Path]:
    course = runner.make_course(Path(tempfile.mkdtemp(prefix="bench-course-")))
    assert runner.nbgrader(course, "generate_assignment", ASSIGNMENT).returncode == 0
    sample_class.write_class(course, ["passes_all"], release_root=course)
    walls, rss = [], []
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    for i in range(runs):
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", str(bindir / "nbgrader"), "autograde", ASSIGNMENT,
             "--student", "passes_all", "--force"],
            cwd=course, env=env, capture_output=True, text=True,
        )  # fmt: skip
        wall, kb = done.stderr.strip().splitlines()[-1].split()
        walls.append(float(wall))
        rss.append(int(kb))
        print(
            f"  autograde run {i + 1}: {float(wall):.0f} s, peak RSS {int(kb) / 1024:.0f} MB",
            flush=True,
        )
    return walls, rss, course


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", type=Path, help="only time the checks, on this saved model")
    args = parser.parse_args()
    rows = []
    model = args.model
    if model is None:
        walls, rss, course = autograde_runs(args.runs)
        model = course / "autograded" / "passes_all" / ASSIGNMENT / "_grading" / "conv_model.keras"
        rows = [
            (f"autograde passes_all, median of {args.runs}", f"{statistics.median(walls):.0f} s "
             f"(runs: {', '.join(f'{w:.0f}' for w in walls)})"),
            ("peak RSS, nbgrader + kernel (max of runs)", f"{max(rss) / 1024:.0f} MB"),
        ]  # fmt: skip
    rows += check_costs(model)
    width = max(len(k) for k, _ in rows)
    print(f"\n{'what':{width}s} | number")
    for key, value in rows:
        print(f"{key:{width}s} | {value}")


if __name__ == "__main__":
    main()
