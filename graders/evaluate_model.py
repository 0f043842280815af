"""Child process: evaluate a saved model on the official test split, outside the student's kernel.

Run as ``python -I -m graders.evaluate_model MODEL.keras``: isolated mode keeps the
submission's folder off ``sys.path``, and everything it judges -- test images, labels,
predictions, the model's architecture and its optimizer step count -- it computes itself.
Prints one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from graders import settings  # noqa: E402  (TensorFlow-free)

settings.skip_unused_imports()  # before Keras: it never plots or wraps scikit-learn here


def evaluate(path: str) -> dict:
    # No separate data.verify(): load_split below checks each file's digest as it reads it.
    import keras
    import numpy as np

    from graders import data, public_checks, training_cache

    try:
        with public_checks().quiet():
            # safe_mode refuses Lambda layers and other code hidden in the file.
            model = keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:
        return {"error": f"the saved model could not be loaded ({type(exc).__name__}: {exc})"}

    optimizer = getattr(model, "optimizer", None)
    steps = int(optimizer.iterations.numpy()) if optimizer is not None else None
    checks = public_checks()
    result = {
        "steps": steps,
        "architecture_problems": checks.architecture_problems(model),
        # a near miss Part 5 trained (c1w3_checks.training_refusal): judged on its own run
        "trainable": checks.training_refusal(model) is None,
    }
    # A model Part 5 refuses to train is judged on its architecture alone (accuracy.judge):
    # 70,000 predictions would only cost its student's grading time.
    if result["architecture_problems"] and not result["trainable"]:
        return {**result, "evaluation": "not needed: Part 5 does not train this model"}
    # Weights an instructor's run already evaluated (make warm: the honest training's result)
    # are not evaluated on 70,000 images again; the key covers weights, spec, data, machine.
    key = training_cache.evaluation_key(model)
    known = training_cache.known_evaluation(key)
    if known is not None:
        return {**result, **known, "evaluation": "known"}
    # The training split too: a model that scores higher on test images than on the images
    # it was trained on has seen the test set (docs/threat-model.md).
    for split, name in (("test", "accuracy"), ("train", "train_accuracy")):
        try:
            images, labels = data.load_split(split)
        except data.DataError as exc:
            return {"error": f"the grader could not load the official {split} set: {exc}"}
        x = (images.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
        try:
            with public_checks().quiet():
                probabilities = np.asarray(model.predict(x, batch_size=1000, verbose=0))
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            return {"error": f"the model could not classify {split} images ({problem})"}
        if probabilities.shape != (len(labels), 10):
            want = (len(labels), 10)
            return {"error": f"the model outputs shape {probabilities.shape}, expected {want}"}
        result[name] = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    training_cache.store_evaluation(key, result)
    return result


def main() -> int:
    result = evaluate(sys.argv[1])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
