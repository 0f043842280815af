"""How far the graded readings of a correct notebook move between machines.

A student runs the notebook on a laptop (1-8 TensorFlow threads, AVX2 or AVX-512, maybe
another TensorFlow release), with seed 42 and op determinism; the grader re-runs it on its
own machine and grades the numbers the student typed against *its* run. This measures how
much each of those readings moves when only the machine changes, to size the tolerances.

Each configuration runs in a fresh interpreter that replays the notebook's locked cells as
they are written: cell "setup" (``set_random_seed(42)``, op determinism), cell "load_data"
(``fashion_mnist.load_data()``, ``astype("float32") / 255.0``), cell "train_dense_model"
(seed again, the dense baseline, adam, 5 epochs, batch 128, 16 steps per call through
c1w3_checks.fit_lab_model), the architecture check's build (rng preserved), cell
"train_conv_model" (seed again, the solution's Sequential, the same fit), cell
"run_shift_probe" (the solution's stage_outputs and relative_change on sequential_copy), and
cell "per_class_accuracy". Per run it records every reading the notebook grades:

* conv and dense test accuracy (``evaluate``, batch 1000) and the gain in points;
* per-class test accuracy of both models, the per-class gains, the class with the largest
  gain and its margin over the runner-up (the grader accepts classes within 0.01 of the top);
* the shift probe: relative change of conv2 and pool2 for the first 200 test images moved
  1 and 2 px, and conv / dense accuracy on the first 2,000 test images moved 0-3 px; the
  notebook moves images right, this also moves them left;
* the last training accuracy of each model's history (what the notebook prints).

Configurations: 1, 2, 4 and 8 intra-op threads (inter-op the same, as the course's runner
sets both) with oneDNN's default ISA (AVX-512 on this CPU), and 1, 2 and 8 with
``ONEDNN_MAX_CPU_ISA=AVX2``. ``--python`` adds runs with another interpreter (another
TensorFlow release in a throwaway venv; the child needs only tensorflow and numpy, plus this
repository on PYTHONPATH, which the parent sets)::

    .venv/bin/python benchmarks/machine_spread.py
    .venv/bin/python benchmarks/machine_spread.py --python /tmp/tf220/bin/python
    .venv/bin/python benchmarks/machine_spread.py --threads 2 --avx2-threads ""   # one run

Results go to benchmarks/results/machine_spread.json (``--out``), rewritten after each run:
one row per configuration, then a summary (min, max, max - min of every reading across
rows) and a markdown table, printed as well. ``--append`` keeps the rows already in the file;
``--resummarize`` runs nothing and recomputes the summary of the stored rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from accuracy_distribution import (  # noqa: E402
    BATCH_SIZE,
    EPOCHS,
    RESULT_MARK,
    STEPS_PER_CALL,
    build_conv,
    machine,
    parse_list,
    tf_facts,
)

# (benchmarks/ is sys.path[0]: the recipe constants, the solution's model, machine facts)

SEED = 42  # the notebook's SEED
SHIFTS = (0, 1, 2, 3)  # accuracy on the first 2,000 test images moved by these
PROBE_SHIFTS = (1, 2)  # conv2 / pool2 change for the first 200 test images
DIRECTIONS = ("right", "left")  # the notebook moves right; left is the mirror question
RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
# Never inherited by a child: they would change what is measured (the brief: oneDNN on, no
# XLA, no grading-machine training cache).
DROPPED_ENV = ("TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS", "NBGRADER_C1W3_TRAINING_CACHE")
# The grader's tolerances this measurement sizes (graders/hidden.py, judge_conv_vs_dense).
GRADER_TOLERANCES = {"gain_points": 0.55, "class_tie": 0.01}


# ------------------------------------------------------------------ child: the notebook


def shift(images, pixels: int, direction: str):
    """Every image moved ``pixels`` right or left, zeros entering (the notebook's
    shift_right for "right", its mirror image for "left")."""
    import numpy as np

    shifted = np.zeros_like(images)
    if pixels == 0:
        shifted[...] = images
    elif direction == "right":
        shifted[:, :, pixels:, :] = images[:, :, :-pixels, :]
    else:
        shifted[:, :, :-pixels, :] = images[:, :, pixels:, :]
    return shifted


def relative_change(before, after) -> float:
    """The solution's relative_change: mean over images of ||after - before|| / ||before||."""
    import numpy as np

    n = len(before)
    before = np.asarray(before).reshape(n, -1)
    after = np.asarray(after).reshape(n, -1)
    return float(np.mean(np.linalg.norm(after - before, axis=1) / np.linalg.norm(before, axis=1)))


def stage_outputs(tf, model, images):
    """The solution's stage_outputs: conv1, pool1, conv2, pool2 through one predict."""
    layer_outputs = [layer.output for layer in model.layers[:4]]
    activation_model = tf.keras.models.Model(inputs=model.inputs, outputs=layer_outputs)
    return activation_model.predict(images, verbose=0)


def shift_probe(tf, checks, conv_model, dense_model, test_images, test_labels, direction):
    """Cell "run_shift_probe", moving images ``direction``."""
    import numpy as np

    probe = test_images[:200]
    batches = np.concatenate([shift(probe, p, direction) for p in (0, *PROBE_SHIFTS)])
    conv2_out, pool2_out = stage_outputs(tf, checks.sequential_copy(conv_model), batches)[2:4]
    result = {"conv2": {}, "pool2": {}, "conv accuracy": {}, "dense accuracy": {}}
    for p in PROBE_SHIFTS:
        moved = slice(200 * p, 200 * (p + 1))
        result["conv2"][p] = relative_change(conv2_out[:200], conv2_out[moved])
        result["pool2"][p] = relative_change(pool2_out[:200], pool2_out[moved])
    moved = np.concatenate([shift(test_images[:2000], p, direction) for p in SHIFTS])
    for name, model in (("conv", conv_model), ("dense", dense_model)):
        guesses = model.predict(moved, batch_size=2000, verbose=0)
        guesses = np.argmax(guesses, axis=1).reshape(len(SHIFTS), 2000)
        for i, p in enumerate(SHIFTS):
            result[f"{name} accuracy"][p] = float(np.mean(guesses[i] == test_labels[:2000]))
    return result


def run_notebook(config: dict) -> dict:
    """The notebook's locked cells with the solution's answers (runs in a fresh interpreter)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from graders import public_checks

    checks = public_checks()  # the instructor's c1w3_checks.py: stdlib + keras only
    # before TensorFlow runs anything (the parent set TF_NUM_*_THREADS as well)
    tf.config.threading.set_intra_op_parallelism_threads(config["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(config["threads"])

    # cell "setup"
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    # cell "load_data"
    (x, y), (xt, yt) = tf.keras.datasets.fashion_mnist.load_data()
    x = (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    xt = (xt.astype("float32") / 255.0).reshape(-1, 28, 28, 1)

    # cell "train_dense_model"
    tf.keras.utils.set_random_seed(SEED)
    dense = tf.keras.models.Sequential(
        [
            tf.keras.Input(shape=(28, 28, 1)),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )
    dense.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_CALL,
    )
    start = time.perf_counter()
    dense_history = checks.fit_lab_model(
        dense, x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, steps_per_execution=STEPS_PER_CALL
    )
    dense_fit_s = time.perf_counter() - start
    dense_train_acc = float(dense_history.history["accuracy"][-1])
    dense_test_acc = float(dense.evaluate(xt, yt, batch_size=1000, verbose=0)[1])

    # cell "conv_model_architecture": builds one model with every random state preserved
    checks.check_conv_model(lambda: build_conv(tf, "sequential"))
    # cell "train_conv_model"
    tf.keras.utils.set_random_seed(SEED)
    conv = build_conv(tf, "sequential")  # the solution's build_conv_model(), compiled
    problems = checks.architecture_problems(conv)
    assert not problems, problems
    start = time.perf_counter()
    conv_history = checks.fit_lab_model(
        conv, x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, steps_per_execution=STEPS_PER_CALL
    )
    conv_fit_s = time.perf_counter() - start
    conv_train_acc = float(checks.accuracy_history(conv_history)[-1])
    conv_test_acc = float(conv.evaluate(xt, yt, batch_size=1000, verbose=0)[1])

    # cell "run_shift_probe" (right, as written) and its mirror image (left)
    probes = {d: shift_probe(tf, checks, conv, dense, xt, yt, d) for d in DIRECTIONS}

    # cell "per_class_accuracy"
    per_class = {}
    for name, model in (("conv", conv), ("dense", dense)):
        predicted = np.argmax(model.predict(xt, batch_size=1000, verbose=0), axis=1)
        per_class[name] = [float(np.mean(predicted[yt == k] == k)) for k in range(10)]
    gains = [c - d for c, d in zip(per_class["conv"], per_class["dense"], strict=True)]

    return {
        **config,
        "conv_test_acc": conv_test_acc,
        "dense_test_acc": dense_test_acc,
        "gain_points": 100 * (conv_test_acc - dense_test_acc),
        "conv_train_acc": conv_train_acc,
        "dense_train_acc": dense_train_acc,
        "per_class": per_class,
        "class_gains": gains,
        "shift_probe": probes,
        "conv_loss_history": [float(v) for v in conv_history.history["loss"]],
        "dense_loss_history": [float(v) for v in dense_history.history["loss"]],
        "conv_fit_s": round(conv_fit_s, 1),
        "dense_fit_s": round(dense_fit_s, 1),
        "keras_version": keras.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "env_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        **tf_facts(tf),
    }


def child_main(config_json: str) -> None:
    print(RESULT_MARK + json.dumps(run_notebook(json.loads(config_json))), flush=True)


# ------------------------------------------------------------------ readings of one row


def derived(row: dict) -> dict:
    """The row's readings as the notebook's questions use them, keyed by name."""
    names = list(public_checks_class_names())
    gains = row["class_gains"]
    order = sorted(range(10), key=lambda k: -gains[k])
    out = {
        "conv_test_acc": row["conv_test_acc"],
        "dense_test_acc": row["dense_test_acc"],
        "gain_points": row["gain_points"],
        "conv_train_acc": row["conv_train_acc"],
        "dense_train_acc": row["dense_train_acc"],
        "top_gain": gains[order[0]],
        "top_gain_margin": gains[order[0]] - gains[order[1]],
    }
    for k, name in enumerate(names):
        out[f"conv_acc[{name}]"] = row["per_class"]["conv"][k]
        out[f"dense_acc[{name}]"] = row["per_class"]["dense"][k]
        out[f"gain[{name}]"] = gains[k]
    for d, probe in row["shift_probe"].items():
        for p in PROBE_SHIFTS:
            for stage in ("conv2", "pool2"):
                out[f"{stage}_change_{d}_{p}px"] = probe[stage][str(p)]
            out[f"pool2_minus_conv2_{d}_{p}px"] = probe["pool2"][str(p)] - probe["conv2"][str(p)]
        for model in ("conv", "dense"):
            acc = probe[f"{model} accuracy"]
            for p in SHIFTS:
                out[f"{model}_acc_{d}_{p}px"] = acc[str(p)]
            out[f"{model}_loss_{d}_0to2px"] = acc["0"] - acc["2"]
        out[f"dense_minus_conv_loss_{d}_0to2px"] = (
            out[f"dense_loss_{d}_0to2px"] - out[f"conv_loss_{d}_0to2px"]
        )
    out.update(both_directions(row))
    return out


def both_directions(row: dict) -> dict:
    """The shift readings averaged over a move left and a move right, as the notebook's newer
    shift probe reads them (graders.hidden, _collect_shift_reading): the changes at 1 px, each
    model's loss from 0 px to 2 px, and conv's advantage over dense at 0 px and at 2 px."""
    right, left = row["shift_probe"]["right"], row["shift_probe"]["left"]

    def mean(key: str, p: int) -> float:
        return (right[key][str(p)] + left[key][str(p)]) / 2

    out = {f"{s}_change_mean_1px": mean(s, 1) for s in ("conv2", "pool2")}
    out["pool2_minus_conv2_mean_1px"] = out["pool2_change_mean_1px"] - out["conv2_change_mean_1px"]
    for m in ("conv", "dense"):
        out[f"{m}_loss_mean_0to2px"] = right[f"{m} accuracy"]["0"] - mean(f"{m} accuracy", 2)
    out["dense_minus_conv_loss_mean_0to2px"] = (
        out["dense_loss_mean_0to2px"] - out["conv_loss_mean_0to2px"]
    )
    out["advantage_0px"] = right["conv accuracy"]["0"] - right["dense accuracy"]["0"]
    out["advantage_mean_2px"] = mean("conv accuracy", 2) - mean("dense accuracy", 2)
    out["advantage_2px_minus_0px"] = out["advantage_mean_2px"] - out["advantage_0px"]
    return out


def choices(row: dict) -> dict:
    """The row's categorical readings: what a student reading this run would answer."""
    names = list(public_checks_class_names())
    gains = row["class_gains"]
    order = sorted(range(10), key=lambda k: -gains[k])
    out = {
        "biggest_gain_class": names[order[0]],
        "runner_up_class": names[order[1]],
        "accepted_classes": [
            names[k]
            for k in range(10)
            if gains[k] >= gains[order[0]] - GRADER_TOLERANCES["class_tie"]
        ],
    }
    for d, probe in row["shift_probe"].items():
        c, p = probe["conv2"]["1"], probe["pool2"]["1"]
        out[f"steadier_stage_{d}"] = "pool2" if p < c else "conv2"
        losses = {
            m: probe[f"{m} accuracy"]["0"] - probe[f"{m} accuracy"]["2"] for m in ("conv", "dense")
        }
        out[f"robust_model_{d}"] = min(losses, key=losses.get)
    both = both_directions(row)
    out["steadier_stage_mean"] = "pool2" if both["pool2_minus_conv2_mean_1px"] < 0 else "conv2"
    out["robust_model_mean"] = (
        "conv" if both["conv_loss_mean_0to2px"] < both["dense_loss_mean_0to2px"] else "dense"
    )
    out["advantage_at_0px"] = "smaller" if both["advantage_2px_minus_0px"] > 0 else "larger"
    return out


def public_checks_class_names() -> tuple[str, ...]:
    from graders import public_checks

    return public_checks().CLASS_NAMES


def summarize(rows: list[dict]) -> dict:
    """min, max and max - min of every numeric reading across rows; the distinct answers."""
    readings = [derived(r) for r in rows]
    numeric = {}
    for key in readings[0]:
        values = [d[key] for d in readings]
        numeric[key] = {"min": min(values), "max": max(values), "spread": max(values) - min(values)}
    answers = {}
    for key in choices(rows[0]):
        values = [choices(r)[key] for r in rows]
        answers[key] = sorted({json.dumps(v) for v in values})
        answers[key] = [json.loads(v) for v in answers[key]]
    return {"rows": len(rows), "numeric": numeric, "answers": answers}


# ------------------------------------------------------------------ parent


def label(row: dict) -> str:
    isa = row["onednn_max_cpu_isa"] or "default"
    return f"TF {row['tf_version']} / {row['threads']} thr / {isa}"


def markdown_table(rows: list[dict]) -> list[str]:
    out = [
        "| config | keras | conv acc | dense acc | gain pts | top class (margin) "
        "| conv2 1px | pool2 1px | conv loss 0->2 px | dense loss 0->2 px | conv fit s |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, c = derived(r), choices(r)
        out.append(
            f"| {label(r)} | {r['keras_version']} | {d['conv_test_acc']:.4f} "
            f"| {d['dense_test_acc']:.4f} | {d['gain_points']:.2f} "
            f"| {c['biggest_gain_class']} (+{d['top_gain_margin']:.3f} over "
            f"{c['runner_up_class']}) | {d['conv2_change_right_1px']:.4f} "
            f"| {d['pool2_change_right_1px']:.4f} | {100 * d['conv_loss_right_0to2px']:.2f} "
            f"| {100 * d['dense_loss_right_0to2px']:.2f} | {r['conv_fit_s']:.0f} |"
        )
    return out


def spread_table(summary: dict, keys: list[str] | None = None) -> list[str]:
    out = ["| reading | min | max | spread (max - min) |", "|---|---:|---:|---:|"]
    for key, s in summary["numeric"].items():
        if keys is None or key in keys:
            out.append(f"| {key} | {s['min']:.4f} | {s['max']:.4f} | {s['spread']:.4f} |")
    return out


HEADLINE = [
    "conv_test_acc",
    "dense_test_acc",
    "gain_points",
    "conv_train_acc",
    "dense_train_acc",
    "top_gain",
    "top_gain_margin",
    "conv2_change_right_1px",
    "pool2_change_right_1px",
    "conv2_change_right_2px",
    "pool2_change_right_2px",
    "conv_loss_right_0to2px",
    "dense_loss_right_0to2px",
    "conv2_change_left_1px",
    "pool2_change_left_1px",
    "conv_loss_left_0to2px",
    "dense_loss_left_0to2px",
    "conv2_change_mean_1px",
    "pool2_change_mean_1px",
    "pool2_minus_conv2_mean_1px",
    "conv_loss_mean_0to2px",
    "dense_loss_mean_0to2px",
    "dense_minus_conv_loss_mean_0to2px",
    "advantage_0px",
    "advantage_mean_2px",
    "advantage_2px_minus_0px",
]


def run_config(config: dict, python: str) -> dict:
    """One configuration in a fresh ``python`` running this file with ``--child`` (as
    accuracy_distribution.run_in_child, with a choice of interpreter and a clean oneDNN env)."""
    threads = str(config["threads"])
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)
    for name in (*DROPPED_ENV, "ONEDNN_MAX_CPU_ISA"):
        env.pop(name, None)
    if config["onednn_max_cpu_isa"]:
        env["ONEDNN_MAX_CPU_ISA"] = config["onednn_max_cpu_isa"]
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    proc = subprocess.run(
        [python, __file__, "--child", json.dumps(config)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise RuntimeError(f"run {config} with {python} failed (exit {proc.returncode})")
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    result["process_s"] = round(time.perf_counter() - start, 1)
    result["python"] = python
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="2,1,4,8", help="default-ISA thread counts")
    parser.add_argument("--avx2-threads", default="1,2,8", help="ONEDNN_MAX_CPU_ISA=AVX2 runs")
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        help="another interpreter (another TensorFlow): runs --python-threads, default ISA",
    )
    parser.add_argument("--python-threads", default="2")
    parser.add_argument("--out", default="machine_spread.json")
    parser.add_argument("--append", action="store_true", help="keep the rows already in --out")
    parser.add_argument(
        "--resummarize",
        action="store_true",
        help="run nothing: recompute the summary of the rows in --out and print the tables",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    if args.resummarize:
        resummarize(RESULTS_DIR / args.out)
        return

    def threads(text: str) -> list[int]:
        return parse_list([text]) if text.strip() else []

    plan = [(sys.executable, t, None) for t in threads(args.threads)]
    plan += [(sys.executable, t, "AVX2") for t in threads(args.avx2_threads)]
    plan += [(py, t, None) for py in args.python for t in threads(args.python_threads)]

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / args.out
    rows = json.loads(out.read_text())["rows"] if args.append and out.exists() else []
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "recipe": {
            "seed": SEED,
            "epochs": EPOCHS,
            "batch_size": BATCH_SIZE,
            "steps_per_call": STEPS_PER_CALL,
        },
        "grader_tolerances": GRADER_TOLERANCES,
        "rows": rows,
    }
    print(f"machine: {result['machine']}", flush=True)
    started = time.perf_counter()
    failures = []
    for python, t, isa in plan:
        config = {"threads": t, "onednn_max_cpu_isa": isa, "seed": SEED}
        print(f"running {t} threads, ISA {isa or 'default'}, {python} ...", flush=True)
        try:
            row = run_config(config, python)
        except RuntimeError as exc:
            failures.append(str(exc))
            print(f"FAILED: {exc}", flush=True)
            continue
        rows.append(row)
        print("\n".join(markdown_table([row])[2:]), flush=True)
        result["summary"] = summarize(rows)
        out.write_text(json.dumps(result, indent=1))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["failures"] = failures
    if rows:
        result["summary"] = summarize(rows)
        report(result)
    out.write_text(json.dumps(result, indent=1))
    print(f"wall time {result['wall_s']:.0f} s; raw results: {out}")


def report(result: dict) -> None:
    print("\n" + "\n".join(markdown_table(result["rows"])))
    print("\nspread across all rows:\n" + "\n".join(spread_table(result["summary"], HEADLINE)))
    for key, values in result["summary"]["answers"].items():
        print(f"{key}: {values}")


def resummarize(out: Path) -> None:
    """The summary again from the stored rows (after a reading was added to derived())."""
    result = json.loads(out.read_text())
    result["summary"] = summarize(result["rows"])
    report(result)
    out.write_text(json.dumps(result, indent=1))
    print(f"summary rewritten: {out}")


if __name__ == "__main__":
    main()
