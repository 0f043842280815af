"""Test accuracy of the graded recipe across seeds, thread-pool sizes and model spellings.

Each configuration trains in a fresh interpreter (so the thread settings really apply),
exactly as the notebook's locked cells do: ``set_random_seed(seed)`` and op determinism,
then the dense baseline is built and trained (5 epochs, batch 128, adam, all 60,000
images, 16 steps per call) and only then the lab's conv model, whose initial weights
therefore depend on the dense model having been built first. Seed 42 is the graded run.

Per run it prints the conv model's training accuracy (``evaluate`` on the 60,000, not the
history average), its test accuracy (``evaluate`` on the official 10,000, batch 1000),
the conv fit time, and the dense baseline's test accuracy. Then summary statistics:
mean / sd / min over the plain-spelling runs, min of the seed-42 rows, the spread caused
by the thread count alone at each fixed seed, and whether each alternative spelling is
bit-identical to the plain one at the same seed and threads.

    # the threshold measurement (docs/threshold.md): 9 trainings + 2 spellings
    .venv/bin/python benchmarks/accuracy_distribution.py --threads 1,2,4 --seeds 42,0,1 \\
        --spellings functional,input_shape_relu_layers

    # seeds 0-9 at the graded 2 threads (a single bare number N means seeds 0..N-1)
    .venv/bin/python benchmarks/accuracy_distribution.py --seeds 10 [--no-pooling]

Spellings (all the same 7-layer model): ``sequential`` = the solution's Sequential with
``tf.keras.Input`` and ``activation="relu"``; ``functional`` = the functional API with
``activation=tf.nn.relu`` / ``tf.nn.softmax``; ``input_shape_relu_layers`` = Sequential with
``input_shape=(28, 28, 1)`` on the first Conv2D and separate ``tf.keras.layers.ReLU()``
layers. Alternative spellings train once each, at ``--variant-threads`` and the first seed.
``--onednn-max-isa AVX2`` (sets ONEDNN_MAX_CPU_ISA) emulates a grading machine without
AVX-512. Raw results go to benchmarks/results/ (``--out``), rewritten after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPOCHS = 5  # graders.settings.EPOCHS / BATCH_SIZE; the child checks they still agree
BATCH_SIZE = 128
STEPS_PER_CALL = 16  # the notebook's STEPS_PER_CALL
SPELLINGS = ("sequential", "functional", "input_shape_relu_layers")
RESULT_MARK = "@@RESULT@@ "
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------ child: one training


def notebook_start(tf, config: dict):
    """A child's first steps, as the notebook's first cells: TensorFlow's thread pools before
    it runs anything (the parent set the environment variables too), the recipe check, cell
    "setup" (seed, op determinism) and cell "load_data" (graders.data: the same arrays as
    fashion_mnist.load_data(), verified). Returns (x, y, xt, yt), scaled as the lab scales."""
    tf.config.threading.set_intra_op_parallelism_threads(config["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(config["threads"])
    from graders import data, settings

    assert (settings.EPOCHS, settings.BATCH_SIZE) == (EPOCHS, BATCH_SIZE), "recipe changed"
    tf.keras.utils.set_random_seed(config["seed"])
    tf.config.experimental.enable_op_determinism()
    x, y = data.load_split("train")
    xt, yt = data.load_split("test")
    x = (x / 255.0).astype("float32").reshape(-1, 28, 28, 1)
    xt = (xt / 255.0).astype("float32").reshape(-1, 28, 28, 1)
    return x, y, xt, yt


def tf_facts(tf) -> dict:
    """What TensorFlow ran with, recorded beside each result."""
    return {
        "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "tf_version": tf.__version__,
    }


def build_conv(tf, spelling: str):
    """The lab's model in one of three spellings, compiled as the solution compiles it."""
    layers = tf.keras.layers
    if spelling == "sequential":  # the solution in the source notebook
        model = tf.keras.models.Sequential(
            [
                tf.keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, (3, 3), activation="relu"),
                layers.MaxPooling2D(2, 2),
                layers.Conv2D(32, (3, 3), activation="relu"),
                layers.MaxPooling2D(2, 2),
                layers.Flatten(),
                layers.Dense(128, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ]
        )
    elif spelling == "functional":
        inputs = tf.keras.Input(shape=(28, 28, 1))
        h = layers.Conv2D(32, (3, 3), activation=tf.nn.relu)(inputs)
        h = layers.MaxPooling2D(2, 2)(h)
        h = layers.Conv2D(32, (3, 3), activation=tf.nn.relu)(h)
        h = layers.MaxPooling2D(2, 2)(h)
        h = layers.Flatten()(h)
        h = layers.Dense(128, activation=tf.nn.relu)(h)
        outputs = layers.Dense(10, activation=tf.nn.softmax)(h)
        model = tf.keras.Model(inputs=inputs, outputs=outputs)
    elif spelling == "input_shape_relu_layers":
        model = tf.keras.models.Sequential(
            [
                layers.Conv2D(32, (3, 3), input_shape=(28, 28, 1)),
                layers.ReLU(),
                layers.MaxPooling2D(2, 2),
                layers.Conv2D(32, (3, 3)),
                layers.ReLU(),
                layers.MaxPooling2D(2, 2),
                layers.Flatten(),
                layers.Dense(128),
                layers.ReLU(),
                layers.Dense(10, activation="softmax"),
            ]
        )
    else:
        raise ValueError(f"unknown spelling {spelling!r}")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train_notebook_order(config: dict) -> dict:
    """One configuration, in the order of the notebook's cells (runs in a fresh interpreter)."""
    import tensorflow as tf

    from graders import public_checks

    x, y, xt, yt = notebook_start(tf, config)  # cells "setup" and "load_data"
    checks = public_checks()
    seed, spelling = config["seed"], config["spelling"]

    # cell "train_dense_model" (the notebook re-seeds here; a no-op right after the seeding)
    if config["order"] == "reseed":
        tf.keras.utils.set_random_seed(seed)
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
    dense.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
    dense_fit_s = time.perf_counter() - start
    dense_test = dense.evaluate(xt, yt, batch_size=1000, verbose=0)[1]

    # cell "conv_model_architecture": check_conv_model builds one model under preserve_rng()
    checks.build_quietly(lambda: build_conv(tf, spelling))
    # cell "train_conv_model": the current notebook seeds again right before building, so the
    # conv model no longer depends on the dense training; "chained" is the earlier notebook
    if config["order"] == "reseed":
        tf.keras.utils.set_random_seed(seed)
    conv = build_conv(tf, spelling)
    problems = checks.architecture_problems(conv)
    conv.steps_per_execution = STEPS_PER_CALL
    start = time.perf_counter()
    history = conv.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
    fit_s = time.perf_counter() - start
    test_acc = conv.evaluate(xt, yt, batch_size=1000, verbose=0)[1]
    train_acc = conv.evaluate(x, y, batch_size=1000, verbose=0)[1]
    return {
        **config,
        "train_acc": float(train_acc),
        "test_acc": float(test_acc),
        "fit_s": round(fit_s, 1),
        "loss_history": history.history["loss"],  # a fingerprint of the whole training
        "dense_test_acc": float(dense_test),
        "dense_fit_s": round(dense_fit_s, 1),
        "architecture_problems": problems,
        **tf_facts(tf),
    }


def train_no_pooling(config: dict) -> dict:
    """The no-pooling variant once (the number the notebook quotes as given data)."""
    import tensorflow as tf

    from graders import reference

    x, y, xt, yt = notebook_start(tf, config)
    model = reference.build(reference.variant("no_pooling"), seed=config["seed"])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
    fit_s = time.perf_counter() - start
    return {
        **config,
        "train_acc": float(model.evaluate(x, y, batch_size=1000, verbose=0)[1]),
        "test_acc": float(model.evaluate(xt, yt, batch_size=1000, verbose=0)[1]),
        "fit_s": round(fit_s, 1),
    }


def child_main(config_json: str) -> None:
    config = json.loads(config_json)
    run = train_no_pooling if config.get("kind") == "no_pooling" else train_notebook_order
    print(RESULT_MARK + json.dumps(run(config)), flush=True)


# ------------------------------------------------------------ parent: fresh process each


def run_in_child(config: dict, max_isa: str | None, script: str = __file__) -> dict:
    """One configuration in a fresh interpreter running `script --child CONFIG` (this file's,
    or another benchmark's with the same protocol: benchmarks/pooling_seeds.py)."""
    threads = str(config["threads"])
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)
    if max_isa:
        env["ONEDNN_MAX_CPU_ISA"] = max_isa
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, script, "--child", json.dumps(config)],
        env=env,
        cwd=repo,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"run {config} failed (exit {proc.returncode})")
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    result["process_s"] = round(time.perf_counter() - start, 1)
    result["onednn_max_cpu_isa"] = max_isa
    return result


def machine() -> dict:
    info = {"python": platform.python_version(), "nproc": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "Flags"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    flags = info.pop("Flags", "").split()
    info["avx512_flags"] = sorted(f for f in flags if f.startswith("avx512"))
    info["avx2"] = "avx2" in flags
    return info


def parse_list(values: list[str], *, count_form: bool = False) -> list[int]:
    """'42,0,1' or '42 0 1'; with count_form a single bare 'N' means 0..N-1 (old usage)."""
    items = [v for value in values for v in value.split(",") if v.strip()]
    if count_form and len(values) == 1 and "," not in values[0]:
        return list(range(int(values[0])))
    return [int(v) for v in items]


def sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(rows: list[dict]) -> list[str]:
    plain = [r for r in rows if r["spelling"] == "sequential" and r.get("kind") != "no_pooling"]
    out = []
    if plain:
        test = [r["test_acc"] for r in plain]
        out.append(
            f"conv test, plain spelling, all {len(test)} runs: mean {statistics.mean(test):.4f} "
            f"sd {sd(test):.4f} min {min(test):.4f} max {max(test):.4f}"
        )
        train = [r["train_acc"] for r in plain]
        out.append(
            f"conv train (evaluated on 60,000): mean {statistics.mean(train):.4f} "
            f"sd {sd(train):.4f} min {min(train):.4f}"
        )
        s42 = [r["test_acc"] for r in plain if r["seed"] == 42]
        if s42:
            out.append(f"seed 42 rows: min {min(s42):.4f} max {max(s42):.4f} ({len(s42)} runs)")
        for seed in dict.fromkeys(r["seed"] for r in plain):
            by_t = {r["threads"]: r["test_acc"] for r in plain if r["seed"] == seed}
            if len(by_t) > 1:
                spread = max(by_t.values()) - min(by_t.values())
                detail = ", ".join(f"{t} thr {a:.4f}" for t, a in sorted(by_t.items()))
                out.append(f"threads alone, seed {seed}: spread {spread:.4f} ({detail})")
        for t in dict.fromkeys(r["threads"] for r in plain):
            by_s = [r["test_acc"] for r in plain if r["threads"] == t]
            if len(by_s) > 1:
                out.append(
                    f"seeds alone, {t} threads: spread {max(by_s) - min(by_s):.4f} "
                    f"(sd {sd(by_s):.4f})"
                )
    for r in rows:
        if r["spelling"] == "sequential" or r.get("kind") == "no_pooling":
            continue
        twin = [p for p in plain if (p["seed"], p["threads"]) == (r["seed"], r["threads"])]
        if twin:
            same = r["test_acc"] == twin[0]["test_acc"] and r["train_acc"] == twin[0]["train_acc"]
            verdict = (
                "bit-identical"
                if same
                else f"DIFFERS by {r['test_acc'] - twin[0]['test_acc']:+.4f}"
            )
            out.append(
                f"spelling {r['spelling']} (seed {r['seed']}, {r['threads']} threads): test "
                f"{r['test_acc']!r} vs plain {twin[0]['test_acc']!r}: {verdict}"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", default=["10"], help="42,0,1 or a count N (0..N-1)")
    parser.add_argument("--threads", nargs="+", default=["2"], help="TF intra/inter-op threads")
    parser.add_argument("--spellings", nargs="+", default=[], help=", ".join(SPELLINGS[1:]))
    parser.add_argument("--variant-threads", type=int, default=2)
    parser.add_argument("--onednn-max-isa", default=None, help="e.g. AVX2 (ONEDNN_MAX_CPU_ISA)")
    parser.add_argument(
        "--order",
        choices=("reseed", "chained"),
        default="reseed",
        help="reseed: the notebook's cells (seed, dense, seed again, conv); chained: the "
        "earlier notebook (one seed, dense, then conv, whose weights depend on the dense run)",
    )
    parser.add_argument("--no-pooling", action="store_true")
    parser.add_argument("--out", default="accuracy_distribution.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return

    seeds = parse_list(args.seeds, count_form=True)
    threads = parse_list(args.threads)
    spellings = [s for v in args.spellings for s in v.split(",") if s and s != "sequential"]
    for s in spellings:
        if s not in SPELLINGS:
            parser.error(f"unknown spelling {s!r}; known: {', '.join(SPELLINGS)}")
    # Seed by seed (all thread counts), the spellings right after the first seed: a sweep cut
    # short still has whole seeds and the spelling comparison.
    configs = [{"threads": t, "seed": s, "spelling": "sequential"} for s in seeds for t in threads]
    configs[len(threads) : len(threads)] = [
        {"threads": args.variant_threads, "seed": seeds[0], "spelling": s} for s in spellings
    ]
    for config in configs:
        config["order"] = args.order
    if args.no_pooling:
        configs.insert(0, {"kind": "no_pooling", "threads": threads[0], "seed": 0, "spelling": "-"})

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / args.out
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "onednn_max_cpu_isa": args.onednn_max_isa,
        "order": args.order,
        "rows": [],
    }
    print(f"machine: {result['machine']}", flush=True)
    header = "threads | seed | spelling                | train acc | test acc | fit s | dense test"
    print(header + "\n" + "-" * len(header), flush=True)
    for config in configs:
        r = run_in_child(config, args.onednn_max_isa)
        result["rows"].append(r)
        result["tf_version"] = r.get("tf_version", result.get("tf_version"))
        label = "no pooling (seed 0)" if r.get("kind") == "no_pooling" else r["spelling"]
        flag = "" if not r.get("architecture_problems") else "  (checker: not the lab's model)"
        dense_test = r.get("dense_test_acc", float("nan"))
        print(
            f"{r['threads']:7d} | {r['seed']:4d} | {label:23s} | {r['train_acc']:9.4f} | "
            f"{r['test_acc']:8.4f} | {r['fit_s']:5.1f} | {dense_test:.4f}{flag}",
            flush=True,
        )
        out.write_text(json.dumps(result, indent=1))
    result["summary"] = summarize(result["rows"])
    print("\n".join(result["summary"]))
    out.write_text(json.dumps(result, indent=1))
    print(f"raw results: {out}")


if __name__ == "__main__":
    main()
