"""What pooling buys: the dense baseline, two dense controls, the lab's conv model and the
same without pooling.

Backs the lesson's claim that convolution makes the gain over the dense model, while the two
MaxPooling2D layers buy ~21x fewer parameters, less compute and a smaller train-test gap at
a cost of ~1-2 points of test accuracy. The two controls answer "is it just depth?" and "is it
just compute?". Five models, each seed in a fresh interpreter (so the 2-thread TensorFlow
pools really apply), trained with the notebook's recipe: ``set_random_seed(seed)`` and op
determinism, the official 60,000 / 10,000 images scaled to [0, 1], ``set_random_seed(seed)``
again right before building the model, adam, 5 epochs, batch 128, 16 steps per call.

    dense       Flatten, Dense(128, relu), Dense(10, softmax)                  101,770 params
    dense2      Flatten, Dense(128, relu), Dense(128, relu), Dense(10, softmax)
                (depth control: ~the conv model's parameters, 118,282)
    dense_wide  Flatten, Dense(1780, relu), Dense(10, softmax)
                (compute control: 1,413,320 multiply-adds per image, conv's 1,413,504 - 0.013 %)
    conv        the lab's model: 2 x (Conv2D(32, 3x3, relu), MaxPooling2D(2, 2)), Flatten,
                Dense(128, relu), Dense(10, softmax)                           113,386 params
    no_pooling  the lab's model with both MaxPooling2D layers removed

Per run: parameters, multiply-accumulates per image (from the layer shapes: a conv layer
costs out_h * out_w * filters * k * k * in_channels, a dense layer in * out, pooling 0), fit
wall time, training accuracy (``evaluate`` on all 60,000 images, not the history average;
the last history accuracy is kept too), test accuracy (``evaluate`` on the 10,000, batch
1000), the train-test gap, per-class test accuracy, the 10x10 test confusion matrix
(``confusion``: rows true class, columns predicted, counts), and test accuracy with every
test image shifted horizontally by -3..+3 pixels (``shift_px`` / ``shift_test_acc``;
negative = left, zeros entering on the right) and vertically by -2..+2 pixels (``vshift_px`` /
``vshift_test_acc``; negative = up). Then markdown tables of the means: the summary, conv
against every other model paired by seed, per-class accuracy with conv's gains over the dense
models, the class conv gains most on per seed, the confusion among T-shirt/top, Shirt,
Pullover and Coat, and both shift tables. docs/pooling_seeds.md explains the models.

    .venv/bin/python benchmarks/pooling_seeds.py                  # seeds 0..4, all 5 models
    .venv/bin/python benchmarks/pooling_seeds.py --seeds 0, --models dense   # smoke test
    .venv/bin/python benchmarks/pooling_seeds.py --seeds 42,0 --models conv,no_pooling

Runs go model by model, cheapest fit first (all dense seeds, dense2, dense_wide, conv, then
no_pooling), so a run cut short still has whole models. On a 2-core machine (AMD EPYC, TF
2.21) with the cores idle a dense run took ~4 s of fit, conv ~27-48 s and no_pooling ~100-150
s; the 2026-12-02 run shared the cores with other jobs (load 2-5) and took 2720 s for the
default 25 runs (fit means: dense 9.9 s, dense2 11.4, dense_wide 49.6, conv 85.0, no_pooling
249.6). Accuracies do not depend on the load: with the same seed and threads they are
bit-identical from run to run.
Raw results go to benchmarks/results/pooling_seeds.json (``--out``), rewritten after each run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from accuracy_distribution import (  # noqa: E402
    BATCH_SIZE,
    EPOCHS,
    STEPS_PER_CALL,
    machine,
    notebook_start,
    parse_list,
    run_in_child,
    sd,
    tf_facts,
)

from graders import public_checks  # noqa: E402

# (benchmarks/ is sys.path[0]: the same child runner, machine facts and statistics)

# The two controls, dense models sized like the conv model, are graders.reference variants:
# "dense2" (depth: ~the conv model's parameters, 118,282 vs 113,386, two hidden layers) and
# "dense_wide" (compute: 784 * 1780 + 1780 * 10 = 1,413,320 multiply-adds per image, 0.013 %
# below the conv model's 1,413,504; 1779 and 1781 units miss by 0.07 % and 0.04 %).
MODELS = ("dense", "dense2", "dense_wide", "conv", "no_pooling")  # cheapest fit first
BASELINES = ("dense", "dense2", "dense_wide")  # the dense family conv is compared with
SHIFTS = (-3, -2, -1, 0, 1, 2, 3)  # horizontal, pixels to the right (negative: left)
VSHIFTS = (-2, -1, 0, 1, 2)  # vertical, pixels down (negative: up)
SIMILAR_CLASSES = (0, 6, 2, 4)  # T-shirt/top, Shirt, Pullover, Coat: the confusable tops
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------ child: one training


def build(name: str):
    """One of the models, plain Keras layers with default initialisers: dense, conv (the
    lab's), no_pooling and the two controls from the course's one specification
    (graders.reference variants)."""
    from graders import reference

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return reference.build(reference.variant("lab" if name == "conv" else name), seed=None)


def macs_per_image(tf, model) -> int:
    """Multiply-accumulates of one forward pass, from the layer shapes (biases ignored)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            _, out_h, out_w, _ = layer.output.shape
            total += out_h * out_w * math.prod(layer.kernel.shape)  # k * k * in_ch * filters
        elif isinstance(layer, tf.keras.layers.Dense):
            total += math.prod(layer.kernel.shape)  # in * out
    return int(total)


def shift(images, right: int = 0, down: int = 0):
    """Every image moved ``right`` pixels to the right (negative: to the left) and ``down``
    pixels down (negative: up); zeros enter where the image left."""
    if right == 0 and down == 0:
        return images
    import numpy as np

    def spans(d: int, n: int) -> tuple[slice, slice]:  # (to, from) along one axis
        return slice(max(d, 0), n + min(d, 0)), slice(max(-d, 0), n - max(d, 0))

    (to_y, from_y), (to_x, from_x) = spans(down, images.shape[1]), spans(right, images.shape[2])
    shifted = np.zeros_like(images)
    shifted[:, to_y, to_x, :] = images[:, from_y, from_x, :]
    return shifted


def train(config: dict) -> dict:
    """One model at one seed, the notebook's recipe (runs in a fresh interpreter)."""
    import numpy as np
    import tensorflow as tf

    x, y, xt, yt = notebook_start(tf, config)  # cells "setup" and "load_data"
    # the training cell: seed again right before building
    tf.keras.utils.set_random_seed(config["seed"])
    model = build(config["model"])
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_CALL,
    )
    start = time.perf_counter()
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
    fit_s = time.perf_counter() - start

    train_acc = float(model.evaluate(x, y, batch_size=1000, verbose=0)[1])
    test_acc = float(model.evaluate(xt, yt, batch_size=1000, verbose=0)[1])
    predicted = np.argmax(model.predict(xt, batch_size=1000, verbose=0), axis=1)
    per_class = [float(np.mean(predicted[yt == c] == c)) for c in range(10)]
    # rows: true class, columns: predicted class, counts of test images
    confusion = np.bincount(yt.astype(np.int64) * 10 + predicted, minlength=100).reshape(10, 10)
    shifted_acc = {}

    def acc_shifted(right: int, down: int) -> float:
        if (right, down) not in shifted_acc:
            moved = shift(xt, right, down)
            shifted_acc[right, down] = float(
                model.evaluate(moved, yt, batch_size=1000, verbose=0)[1]
            )
        return shifted_acc[right, down]

    return {
        **config,
        "params": int(model.count_params()),
        "macs_per_image": macs_per_image(tf, model),
        "fit_s": round(fit_s, 1),
        "train_acc": train_acc,
        "train_acc_history": float(history.history["accuracy"][-1]),
        "test_acc": test_acc,
        "gap": train_acc - test_acc,
        "per_class_test_acc": per_class,
        "confusion": confusion.tolist(),
        "shift_px": list(SHIFTS),
        "shift_test_acc": [acc_shifted(p, 0) for p in SHIFTS],
        "vshift_px": list(VSHIFTS),
        "vshift_test_acc": [acc_shifted(0, p) for p in VSHIFTS],
        "loss_history": history.history["loss"],
        **tf_facts(tf),
    }


def child_main(config_json: str) -> None:
    from accuracy_distribution import RESULT_MARK

    print(RESULT_MARK + json.dumps(train(json.loads(config_json))), flush=True)


def mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {sd(values):.4f}"


def mean_at(rs: list[dict], px_key: str, acc_key: str, p: int) -> str:
    """Mean accuracy at shift ``p`` over the runs that measured it (matched by value)."""
    values = [r[acc_key][r[px_key].index(p)] for r in rs if p in r.get(px_key, ())]
    return f"{statistics.mean(values):.4f}" if values else "-"


def tables(rows: list[dict]) -> list[str]:
    by_model = {m: [r for r in rows if r["model"] == m] for m in MODELS}
    by_model = {m: rs for m, rs in by_model.items() if rs}
    names = public_checks().CLASS_NAMES

    def avg(rs, key):
        return statistics.mean(r[key] for r in rs)

    def paired(a, b, key="test_acc"):
        """a - b per seed, over the seeds both models ran."""
        twin = {r["seed"]: r for r in b}
        return [(r["seed"], r[key] - twin[r["seed"]][key]) for r in a if r["seed"] in twin]

    out = [
        "| model | parameters | MACs per image | train acc (evaluated) mean ± sd "
        "| test acc mean ± sd | gap mean ± sd | fit s mean | runs |",
        "|---|---:|---:|---|---|---|---:|---:|",
    ]
    for m, rs in by_model.items():
        out.append(
            f"| {m} | {rs[0]['params']:,} | {rs[0]['macs_per_image']:,} "
            f"| {mean_sd([r['train_acc'] for r in rs])} "
            f"| {mean_sd([r['test_acc'] for r in rs])} "
            f"| {mean_sd([r['gap'] for r in rs])} "
            f"| {avg(rs, 'fit_s'):.1f} | {len(rs)} |"
        )
    out.append("")
    for m, rs in by_model.items():
        test = [r["test_acc"] for r in rs]
        hist = [r["train_acc_history"] for r in rs]
        seeds = ",".join(str(r["seed"]) for r in rs)
        fit = [r["fit_s"] for r in rs]
        out.append(
            f"{m}: test acc min {min(test):.4f} max {max(test):.4f} (seeds {seeds}); "
            f"last-epoch history train acc mean {statistics.mean(hist):.4f}; "
            f"fit {min(fit):.1f}-{max(fit):.1f} s"
        )
    if "conv" in by_model:
        c = by_model["conv"]
        for m, n in by_model.items():
            if m == "conv":
                continue
            out.append(
                f"{m} / conv: parameters x{n[0]['params'] / c[0]['params']:.2f}, "
                f"MACs x{n[0]['macs_per_image'] / c[0]['macs_per_image']:.3f}, "
                f"fit time x{avg(n, 'fit_s') / avg(c, 'fit_s'):.2f}; "
                f"test acc conv - {m} {avg(c, 'test_acc') - avg(n, 'test_acc'):+.4f}, "
                f"gap conv - {m} {avg(c, 'gap') - avg(n, 'gap'):+.4f}"
            )
            diffs = paired(c, n)
            if diffs:
                out.append(
                    f"paired by seed, test acc conv - {m}: "
                    + ", ".join(f"{d:+.4f}" for _, d in diffs)
                    + f" (conv ahead in {sum(d > 0 for _, d in diffs)} of {len(diffs)})"
                )

    out.append("")
    shown = list(by_model)
    gains = [b for b in BASELINES if b in by_model and "conv" in by_model]
    out.append(
        "| class | "
        + " | ".join(f"{m} test acc" for m in shown)
        + "".join(f" | conv - {b}" for b in gains)
        + " |"
    )
    out.append("|---|" + "---:|" * (len(shown) + len(gains)))
    for k, name in enumerate(names):
        means = {m: statistics.mean(r["per_class_test_acc"][k] for r in by_model[m]) for m in shown}
        cells = [f"{means[m]:.4f}" for m in shown]
        cells += [f"{means['conv'] - means[b]:+.4f}" for b in gains]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    for b in gains:
        per_seed = []
        for r in by_model["conv"]:
            twin = [t for t in by_model[b] if t["seed"] == r["seed"]]
            if twin:
                delta = [
                    x - y
                    for x, y in zip(
                        r["per_class_test_acc"], twin[0]["per_class_test_acc"], strict=True
                    )
                ]
                k = max(range(10), key=delta.__getitem__)
                per_seed.append(f"seed {r['seed']} {names[k]} {delta[k]:+.4f}")
        if per_seed:
            out.append(f"conv's biggest per-class gain over {b}, per seed: " + "; ".join(per_seed))
    if gains:
        out.append("")

    with_confusion = {m: [r for r in rs if "confusion" in r] for m, rs in by_model.items()}
    with_confusion = {m: rs for m, rs in with_confusion.items() if rs}
    if with_confusion:
        labels = [names[k] for k in SIMILAR_CLASSES]
        out.append(
            "Test-set confusion among " + ", ".join(labels) + " (rows: true class, columns: "
            "predicted; images of the 1,000 per class, mean over the seeds):"
        )
        out.append("")
        out.append("| model | true \\ predicted | " + " | ".join(labels) + " |")
        out.append("|---|---|" + "---:|" * len(labels))
        for m, rs in with_confusion.items():
            for i in SIMILAR_CLASSES:
                cells = [
                    f"{statistics.mean(r['confusion'][i][j] for r in rs):.1f}"
                    for j in SIMILAR_CLASSES
                ]
                out.append(f"| {m} | {names[i]} | " + " | ".join(cells) + " |")
        out.append("")

    out.append("Test acc with every test image shifted horizontally (negative: left, zero fill):")
    out.append("")
    out.append("| model | " + " | ".join(f"{p:+d} px" if p else "0 px" for p in SHIFTS) + " |")
    out.append("|---|" + "---:|" * len(SHIFTS))
    for m, rs in by_model.items():
        cells = [mean_at(rs, "shift_px", "shift_test_acc", p) for p in SHIFTS]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Test acc with every test image shifted vertically (negative: up, zero fill):")
    out.append("")
    out.append("| model | " + " | ".join(f"{p:+d} px" if p else "0 px" for p in VSHIFTS) + " |")
    out.append("|---|" + "---:|" * len(VSHIFTS))
    for m, rs in by_model.items():
        cells = [mean_at(rs, "vshift_px", "vshift_test_acc", p) for p in VSHIFTS]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", default=["5"], help="42,0,1 or a count N (0..N-1)")
    parser.add_argument("--models", default=",".join(MODELS), help=", ".join(MODELS))
    parser.add_argument("--threads", type=int, default=2, help="TF intra/inter-op threads")
    parser.add_argument("--out", default="pooling_seeds.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return

    seeds = parse_list(args.seeds, count_form=True)
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r}; known: {', '.join(MODELS)}")
    models = [m for m in MODELS if m in models]  # cheapest first: partial runs are useful
    configs = [{"model": m, "seed": s, "threads": args.threads} for m in models for s in seeds]
    if not configs:
        parser.error("nothing to run (--seeds N means seeds 0..N-1; one seed: --seeds 7,)")

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / args.out
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "recipe": {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "steps_per_call": STEPS_PER_CALL},
        "rows": [],
    }
    print(f"machine: {result['machine']}", flush=True)
    header = "model      | seed | params    | train acc | test acc | gap     | fit s | process s"
    print(header + "\n" + "-" * len(header), flush=True)
    start = time.perf_counter()
    for config in configs:
        r = run_in_child(config, None, script=__file__)
        result["rows"].append(r)
        result["tf_version"] = r["tf_version"]
        result["wall_s"] = round(time.perf_counter() - start, 1)
        print(
            f"{r['model']:10s} | {r['seed']:4d} | {r['params']:9,d} | {r['train_acc']:9.4f} | "
            f"{r['test_acc']:8.4f} | {r['gap']:+.4f} | {r['fit_s']:5.1f} | {r['process_s']:.1f}",
            flush=True,
        )
        out.write_text(json.dumps(result, indent=1))
    result["tables"] = tables(result["rows"])
    print("\n" + "\n".join(result["tables"]))
    out.write_text(json.dumps(result, indent=1))
    print(f"\ntotal wall time {result['wall_s']:.0f} s; raw results: {out}")


if __name__ == "__main__":
    main()
