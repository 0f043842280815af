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


def evaluate(path: str) -> dict:
    from graders import data, public_checks

    try:
        images, labels = data.load_split("test")
    except data.DataError as exc:
        return {"error": f"the grader could not load the official test set: {exc}"}

    import keras
    import numpy as np

    try:
        with public_checks().quiet():
            # safe_mode refuses Lambda layers and other code hidden in the file.
            model = keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:
        return {"error": f"the saved model could not be loaded ({type(exc).__name__}: {exc})"}

    optimizer = getattr(model, "optimizer", None)
    steps = int(optimizer.iterations.numpy()) if optimizer is not None else None
    x = (images.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    try:
        with public_checks().quiet():
            probabilities = np.asarray(model.predict(x, batch_size=1000, verbose=0))
    except Exception as exc:
        return {"error": f"the model could not classify test images ({type(exc).__name__}: {exc})"}
    if probabilities.shape != (len(labels), 10):
        return {"error": f"the model outputs shape {probabilities.shape}, expected (10000, 10)"}
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    return {
        "accuracy": accuracy,
        "steps": steps,
        "architecture_problems": public_checks().architecture_problems(model),
    }


def main() -> int:
    result = evaluate(sys.argv[1])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
