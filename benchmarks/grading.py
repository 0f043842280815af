"""Grading cost on this machine, printed as one table (numbers copied into docs/benchmarks.md).

Side by side, in one run (issue 14, item 6):
* the lab's code as the course wrote it (batch 32), as a plain Python process;
* `nbgrader autograde` of the reference submission (passes_all), sandboxed, on a training
  cache MISS (``--TrainingCache.enabled=False``: it trains for real) and on a HIT (the course
  folder holds a ``.training_cache`` warmed once at the start with
  ``python -m course.training_cache warm``); and, for the sandbox's overhead, a miss with
  ``--Sandbox.enabled=False`` (left out with ``--quick``); runs interleaved;
* the verifier alone (``python -I -m graders.verify`` in the sandbox, as nbgrader runs it),
  with the cache's stored evaluation of these weights and without it (it then evaluates the
  model on 70,000 images);
* the conv model's training time against its FLOP floor at this machine's measured
  convolution throughput.

Wall time per run, median of N; peak RSS = the largest sum of RSS over the whole process
tree (nbgrader, the sandboxed kernel, the verifier), sampled every 0.1 s. The course folder
(with its warmed cache) is kept and printed: ``benchmarks/class_throughput.py --cache-from``
can reuse the cache.

    .venv/bin/python benchmarks/grading.py [--runs 3] [--quick]
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

from course import audit, nbgrader_cli, runner  # noqa: E402
from course.context import GradingContext  # noqa: E402
from course.layout import COURSE_ROOT, Layout  # noqa: E402
from course.training_cache import DEFAULT_DIRNAME  # noqa: E402
from graders import ASSIGNMENT, CHECKS_ENV, training_cache  # noqa: E402
from scenarios import sample_class  # noqa: E402

HERE = Path(__file__).resolve().parent
# 5 epochs x 60,000 images x ~8.5 MFLOP (forward + backward) for the 32/32 lab model.
TRAINING_TFLOP = 2.55


def run_measured(argv, cwd, env=None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of the process tree in MB, stdout). A failed run stops the
    benchmark with its stderr: a time measured on a crash is not a number to print."""
    start = time.perf_counter()
    errors = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
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
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        errors.seek(0)
        raise SystemExit(f"{argv[:4]} failed (exit {proc.returncode}):\n{errors.read()[-3000:]}")
    return wall, peak / 2**20, out


def conv_fit_seconds(notebook: Path) -> float:
    """Sum of Keras's per-epoch times printed by the training cell (verbose=2). On a cache
    hit these are the stored lines of the instructor's training, not this run's."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "train_conv_model":
            text = "".join(o.get("text", "") for o in cell.outputs)
            return float(sum(int(s) for s in re.findall(r"\d+/\d+ - (\d+)s - ", text)))
    return float("nan")


def points(course: Path, student: str) -> float:
    """The student's total autograded score in the course's gradebook (nan if unreadable)."""
    try:
        return sum(s or 0.0 for s in audit.scores(GradingContext.of(course), student).values())
    except Exception:
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


def stored_evaluation_used(model: Path, course: Path, env: dict) -> bool:
    """Whether graders.evaluate_model takes this model's accuracies from the course's cache."""
    done = subprocess.run(
        [sys.executable, "-I", "-m", "graders.evaluate_model", str(model)],
        cwd=COURSE_ROOT,
        env={
            **env,
            training_cache.CACHE_ENV: str(course / DEFAULT_DIRNAME),
            CHECKS_ENV: str(Layout(course).public_checks),
        },
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"graders.evaluate_model failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]).get("evaluation") == "known"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="no no-sandbox autograde (no sandbox-overhead row)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results" / "grading.json",
        help="where the numbers go (docs/benchmarks.md's table is checked against this file)",
    )
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    for name in (training_cache.CACHE_ENV, training_cache.WRITE_ENV):
        env.pop(name, None)
    # TensorFlow's pools as every grading sets them (nbgrader_config.py, course/runner.py):
    # they are part of a stored evaluation's key, so the verifier alone needs them too.
    env.update(runner.thread_env())
    cache_off = ["--TrainingCache.enabled=False"]

    course = runner.make_course(Path(tempfile.mkdtemp(prefix="bench-course-")))
    done = runner.nbgrader(GradingContext.of(course), "generate_assignment", ASSIGNMENT)
    assert done.returncode == 0
    sample_class.write_class(course, ["passes_all"], release_root=course)
    autograded = course / "autograded" / "passes_all" / ASSIGNMENT
    notebook = autograded / f"{ASSIGNMENT}.ipynb"
    # as course.grade runs it (course/runner.py)
    autograde = nbgrader_cli.argv("autograde", ASSIGNMENT, "--student", "passes_all")
    print(f"course folder: {course}", flush=True)

    cache = course / DEFAULT_DIRNAME
    warm_wall, warm_rss, out = run_measured(
        [sys.executable, "-m", "course.training_cache", "warm", "--cache", str(cache)],
        COURSE_ROOT,
        env,
    )
    print(out.rstrip())
    entries = sorted(cache.glob("*/entry.json"))
    evaluations = sorted((cache / training_cache.EVALUATIONS).glob("*.json"))
    print(
        f"warm: {warm_wall:.0f} s, {warm_rss:.0f} MB, {len(entries)} entries, "
        f"{len(evaluations)} stored evaluations",
        flush=True,
    )
    assert entries, "warm wrote no entry"

    modes = [("miss", env, cache_off), ("hit", env, [])]
    if not args.quick:
        modes.append(("no sandbox", env, [*cache_off, "--Sandbox.enabled=False"]))
    results = {"lab": [], **{mode: [] for mode, _, _ in modes}}
    for i in range(args.runs):
        wall, rss, out = run_measured([sys.executable, str(HERE / "lab_as_written.py")], HERE)
        lab = json.loads(out.strip().splitlines()[-1])
        results["lab"].append((wall, rss, lab["conv_fit_s"], lab["conv_test_acc"]))
        print(f"lab as written, run {i + 1}: {wall:.0f} s, {rss:.0f} MB, {lab}", flush=True)
        for mode, mode_env, extra in modes:
            wall, rss, _ = run_measured([*autograde, "--force", *extra], course, mode_env)
            fit = conv_fit_seconds(notebook)
            keys = audit.hit_keys(autograded / "_grading")
            score = points(course, "passes_all")
            results[mode].append((wall, rss, fit, score, keys))
            print(
                f"autograde ({mode}), run {i + 1}: {wall:.0f} s, {rss:.0f} MB, "
                f"{'stored ' if keys else ''}conv fit {fit:.0f} s, {score:g} points, "
                f"cache hits {keys or 'none'}",
                flush=True,
            )
            assert bool(keys) == (mode == "hit"), f"{mode} run with cache hits {keys}"

    grading = autograded / "_grading"
    verify = {"with": [], "without": []}
    for _ in range(args.runs):
        for which in verify:
            argv = [sys.executable, "-c", VERIFY_IN_SANDBOX, str(course), str(grading)]
            if which == "without":
                argv.append("--no-cache")
            wall = run_measured(argv, COURSE_ROOT, env)[0]
            verify[which].append(wall)
            print(f"verifier {which} stored evaluation: {wall:.1f} s", flush=True)
    known = stored_evaluation_used(grading / "conv_model.keras", course, env)
    gflops = conv_throughput()

    def med(mode, k):
        return statistics.median(r[k] for r in results[mode])

    def runs(mode):
        return f"(runs {', '.join(f'{r[0]:.0f}' for r in results[mode])})"

    def scores(mode):
        return ", ".join(sorted({f"{r[3]:g}" for r in results[mode]}))

    hit_keys = sorted({k for r in results["hit"] for k in r[4]})
    rows = [
        ("runs per row", f"{args.runs} (median; peak RSS is the max over runs)"),
        ("warm the cache (once, source notebook)", f"{warm_wall:.0f} s, {len(entries)} entries, "
         f"{len(evaluations)} stored evaluations, peak RSS {warm_rss:.0f} MB"),
        ("lab as written (batch 32): whole process", f"{med('lab', 0):.0f} s {runs('lab')}"),
        ("lab as written: conv fit / test accuracy",
         f"{med('lab', 2):.0f} s / {statistics.median(r[3] for r in results['lab']):.4f}"),
        ("lab as written: peak RSS", f"{max(r[1] for r in results['lab']):.0f} MB"),
        ("autograde miss (cache off), sandboxed", f"{med('miss', 0):.0f} s {runs('miss')}"),
        ("miss: conv fit inside it", f"{med('miss', 2):.0f} s"),
        ("miss: peak RSS, whole tree", f"{max(r[1] for r in results['miss']):.0f} MB"),
        ("miss: points", scores("miss")),
        ("autograde hit (warmed cache), sandboxed", f"{med('hit', 0):.1f} s {runs('hit')}"),
        ("hit: peak RSS, whole tree", f"{max(r[1] for r in results['hit']):.0f} MB"),
        ("hit: points / cache entries hit", f"{scores('hit')} / {', '.join(hit_keys)}"),
        ("miss / lab as written (whole process)",
         f"{med('miss', 0) / med('lab', 0):.2f}x (target <= 0.5x)"),
        ("hit median (target <= 15 s, issue 30)", f"{med('hit', 0):.1f} s"),
        ("hit / miss", f"{med('hit', 0) / med('miss', 0):.2f}x"),
    ]  # fmt: skip
    if not args.quick:
        rows += [
            ("autograde miss, no sandbox", f"{med('no sandbox', 0):.0f} s {runs('no sandbox')}"),
            ("sandbox overhead (miss)",
             f"{100 * (med('miss', 0) / med('no sandbox', 0) - 1):+.1f} %"),
        ]  # fmt: skip
    walls = {which: ", ".join(f"{w:.1f}" for w in verify[which]) for which in verify}
    rows += [
        ("verifier, stored evaluation (sandboxed)", f"{statistics.median(verify['with']):.1f} s "
         f"(runs {walls['with']}; evaluate_model took it: {'yes' if known else 'NO'})"),
        ("verifier, no stored evaluation", f"{statistics.median(verify['without']):.1f} s "
         f"(runs {walls['without']})"),
        ("conv throughput (TF conv2d forward)", f"{gflops:.0f} GFLOP/s"),
        ("FLOP floor of the conv fit", f"{TRAINING_TFLOP * 1000 / gflops:.0f} s "
         f"({TRAINING_TFLOP} TFLOP at {gflops:.0f} GFLOP/s)"),
    ]  # fmt: skip
    numbers = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=COURSE_ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "runs": args.runs,
        "conv_gflops": round(gflops),
        "lab_s": round(med("lab", 0)),
        "lab_conv_fit_s": round(med("lab", 2)),
        "miss_s": round(med("miss", 0)),
        "miss_conv_fit_s": round(med("miss", 2)),
        "hit_s": round(med("hit", 0), 1),
        "hit_runs_s": [round(r[0], 1) for r in results["hit"]],
        "points": sorted({r[3] for mode in ("miss", "hit") for r in results[mode]}),
        "warm_s": round(warm_wall),
        "verifier_stored_s": round(statistics.median(verify["with"]), 1),
        "verifier_unstored_s": round(statistics.median(verify["without"]), 1),
        "peak_rss_hit_mb": round(max(r[1] for r in results["hit"])),
        "peak_rss_miss_mb": round(max(r[1] for r in results["miss"])),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(numbers, indent=1) + "\n")
    width = max(len(k) for k, _ in rows)
    print(f"\n{'what':{width}s} | number")
    for key, value in rows:
        print(f"{key:{width}s} | {value}")
    print(f"\nwritten to {args.out}")


# argv: COURSE GRADING_DIR [--no-cache]: told and shown what a grading tells the verifier
# (course.nbgrader_plugins.grader_variables: the course's checks, its cache folder read-only);
# --no-cache: no cache folder, so the verifier evaluates the model on 70,000 images itself.
VERIFY_IN_SANDBOX = """
import sys
from pathlib import Path
from course import sandbox
from course.layout import load_config
from course.nbgrader_plugins import grader_variables
course, grading = Path(sys.argv[1]), Path(sys.argv[2])
config = load_config(course)
config.CourseDirectory.root = str(course)
if "--no-cache" in sys.argv:
    config.TrainingCache.enabled = False
env, readable = grader_variables(config)
done, limit = sandbox.run([sys.executable, "-I", "-m", "graders.verify", str(grading)], grading,
                          timeout=600, cwd_writable=False, extra_readable=readable, env=env)
assert done.returncode == 0 and not limit, (done.stderr[-800:], limit)
"""


if __name__ == "__main__":
    main()
