"""Test accuracy of the reference conv model and the dense baseline over several seeds.

Trains exactly as the notebook's locked cells do (5 epochs, batch 128, adam, full 60,000
images, op determinism) and prints one row per seed; the README's threshold section
quotes its output. Optionally trains the no-pooling variant once (--no-pooling), the
number the notebook quotes as given data. Usage:

    .venv/bin/python benchmarks/accuracy_distribution.py --seeds 10 [--no-pooling]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from graders import data, reference, settings  # noqa: E402


def train(model, x, y, xt, yt):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, y, epochs=settings.EPOCHS, batch_size=settings.BATCH_SIZE, verbose=0)
    fit_s = time.perf_counter() - start
    _, test_acc = model.evaluate(xt, yt, batch_size=1000, verbose=0)
    return history.history["accuracy"][-1], test_acc, fit_s


def dense_model():
    return tf.keras.Sequential(
        [
            tf.keras.Input(shape=(28, 28, 1)),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--no-pooling", action="store_true")
    args = parser.parse_args()
    tf.config.experimental.enable_op_determinism()
    x, y = data.load_split("train")
    xt, yt = data.load_split("test")
    x = (x / 255.0).astype("float32").reshape(-1, 28, 28, 1)
    xt = (xt / 255.0).astype("float32").reshape(-1, 28, 28, 1)
    no_pooling = None
    if args.no_pooling:  # first: the notebook quotes this number
        tf.keras.utils.set_random_seed(0)
        no_pooling = train(reference.build(reference.variant("no_pooling"), seed=0), x, y, xt, yt)
        print(
            f"no pooling, seed 0: train {no_pooling[0]:.4f} test {no_pooling[1]:.4f} "
            f"fit {no_pooling[2]:.1f} s",
            flush=True,
        )
    rows = []
    print("seed | conv train | conv test | conv fit s | dense train | dense test | dense fit s")
    for seed in range(args.seeds):
        tf.keras.utils.set_random_seed(seed)
        d = train(dense_model(), x, y, xt, yt)
        tf.keras.utils.set_random_seed(seed)
        c = train(reference.build(reference.variant("lab"), seed=seed), x, y, xt, yt)
        rows.append({"seed": seed, "conv": c, "dense": d})
        print(
            f"{seed:4d} | {c[0]:.4f} | {c[1]:.4f} | {c[2]:6.1f} | {d[0]:.4f} | {d[1]:.4f} | "
            f"{d[2]:5.1f}",
            flush=True,
        )
    conv = [r["conv"][1] for r in rows]
    dense = [r["dense"][1] for r in rows]
    print(
        f"conv test: min {min(conv):.4f} median {statistics.median(conv):.4f} max {max(conv):.4f}"
    )
    print(
        f"dense test: min {min(dense):.4f} median {statistics.median(dense):.4f} "
        f"max {max(dense):.4f}"
    )
    result = {"rows": rows, "no_pooling": no_pooling}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "accuracy_distribution.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
