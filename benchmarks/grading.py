"""Grading cost on this machine, printed as one table (numbers copied into the README).

Side by side, in one run:
* the lab's code as the course wrote it (batch 32), as a plain Python process;
* `nbgrader autograde` of the reference submission (passes_all), in the sandbox and, for
  the sandbox's overhead, with ``--Sandbox.enabled=False``; runs interleaved;
* the conv model's training time against its FLOP floor at this machine's measured
  convolution throughput;
* the graders' own costs beside training (verifier, in-kernel checks).

Wall time per run, median of N; peak RSS = the largest sum of RSS over the whole process
tree (nbgrader, the sandboxed kernel, the verifier), sampled every 0.1 s.

    .venv/bin/python benchmarks/grading.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import nbformat  # noqa: E402
import psutil  # noqa: E402

from course import runner, sample_class  # noqa: E402
from graders import ASSIGNMENT, COURSE_ROOT  # noqa: E402

HERE = Path(__file__).resolve().parent
# 5 epochs x 60,000 images x ~8.5 MFLOP (forward + backward) for the 32/32 lab model.
TRAINING_TFLOP = 2.55


def run_measured(argv, cwd, env=None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of the process tree in MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    return time.perf_counter() - start, peak / 2**20, out


def conv_fit_seconds(notebook: Path) -> float:
    """Sum of Keras's per-epoch times printed by the training cell (verbose=2)."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "train_conv_model":
            text = "".join(o.get("text", "") for o in cell.outputs)
            return float(sum(int(s) for s in re.findall(r"\d+/\d+ - (\d+)s - ", text)))
    return float("nan")


def conv_throughput() -> float:
    """GFLOP/s of this machine's TensorFlow on the lab's second convolution, forward pass."""
    import tensorflow as tf

    x = tf.random.uniform((1024, 13, 13, 32))
    w = tf.random.uniform((3, 3, 32, 32))
    conv = tf.function(lambda: tf.nn.conv2d(x, w, 1, "VALID"))
    conv()
    flop = 2 * 3 * 3 * 32 * 32 * 11 * 11 * 1024
    start = time.perf_counter()
    for _ in range(30):
        conv().numpy()
    return flop * 30 / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")

    course = runner.make_course(Path(tempfile.mkdtemp(prefix="bench-course-")))
    assert runner.nbgrader(course, "generate_assignment", ASSIGNMENT).returncode == 0
    sample_class.write_class(course, ["passes_all"], release_root=course)
    autograded = course / "autograded" / "passes_all" / ASSIGNMENT
    autograde = [str(bindir / "nbgrader"), "autograde", ASSIGNMENT, "--student", "passes_all"]

    results = {"lab": [], "sandbox": [], "no sandbox": []}
    for i in range(args.runs):
        wall, rss, out = run_measured([sys.executable, str(HERE / "lab_as_written.py")], HERE)
        lab = json.loads(out.strip().splitlines()[-1])
        results["lab"].append((wall, rss, lab["conv_fit_s"], lab["conv_test_acc"]))
        print(f"lab as written, run {i + 1}: {wall:.0f} s, {rss:.0f} MB, {lab}", flush=True)
        for mode, extra in (("sandbox", []), ("no sandbox", ["--Sandbox.enabled=False"])):
            wall, rss, _ = run_measured([*autograde, "--force", *extra], course, env)
            fit = conv_fit_seconds(autograded / f"{ASSIGNMENT}.ipynb")
            results[mode].append((wall, rss, fit, None))
            print(f"autograde ({mode}), run {i + 1}: {wall:.0f} s, {rss:.0f} MB, fit {fit:.0f} s")

    verify = [
        run_measured(
            [sys.executable, "-c", VERIFY_IN_SANDBOX, str(autograded / "_grading")], COURSE_ROOT
        )[0]
        for _ in range(args.runs)
    ]
    gflops = conv_throughput()

    def med(mode, k):
        return statistics.median(r[k] for r in results[mode])

    rows = [
        ("runs per row", f"{args.runs} (median; peak RSS is the max over runs)"),
        ("lab as written (batch 32): whole process", f"{med('lab', 0):.0f} s"),
        ("lab as written: conv fit / test accuracy",
         f"{med('lab', 2):.0f} s / {statistics.median(r[3] for r in results['lab']):.4f}"),
        ("lab as written: peak RSS", f"{max(r[1] for r in results['lab']):.0f} MB"),
        ("autograde reference, sandboxed", f"{med('sandbox', 0):.0f} s "
         f"(runs {', '.join(f'{r[0]:.0f}' for r in results['sandbox'])})"),
        ("autograde reference, no sandbox", f"{med('no sandbox', 0):.0f} s "
         f"(runs {', '.join(f'{r[0]:.0f}' for r in results['no sandbox'])})"),
        ("sandbox overhead", f"{100 * (med('sandbox', 0) / med('no sandbox', 0) - 1):+.1f} %"),
        ("autograde: conv fit inside it", f"{med('sandbox', 2):.0f} s"),
        ("autograde: peak RSS, whole tree", f"{max(r[1] for r in results['sandbox']):.0f} MB"),
        ("verifier (python -I in the sandbox)", f"{statistics.median(verify):.1f} s"),
        ("conv throughput (TF conv2d forward)", f"{gflops:.0f} GFLOP/s"),
        ("FLOP floor of the conv fit", f"{TRAINING_TFLOP * 1000 / gflops:.0f} s "
         f"({TRAINING_TFLOP} TFLOP at {gflops:.0f} GFLOP/s)"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    print(f"\n{'what':{width}s} | number")
    for key, value in rows:
        print(f"{key:{width}s} | {value}")


VERIFY_IN_SANDBOX = """
import sys
from pathlib import Path
from course import sandbox
done, limit = sandbox.run([sys.executable, "-I", "-m", "graders.verify", sys.argv[1]],
                          Path(sys.argv[1]), timeout=600, cwd_writable=False)
assert done.returncode == 0 and not limit, (done.stderr[-500:], limit)
"""


if __name__ == "__main__":
    main()
