"""Minimum test accuracy, judged in a fresh interpreter on a saved copy of the model.

The student's kernel only saves the trained model; :func:`graders.evaluate_model.evaluate`
loads the official test split itself (digest-checked) and evaluates it, in a fresh
interpreter: graders.verify (the verdict that counts) is one already and evaluates in its own
process; anywhere else (the kernel, ``nbgrader validate``) a child ``python -I`` runs it.
Monkeypatched ``evaluate``/``predict``/``load_data``, overwritten ``test_images``/
``test_labels`` or swapped labels in the kernel therefore cannot change the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from graders import public_checks, settings


@dataclass
class AccuracyResult:
    accuracy: float | None = None
    steps: int | None = None
    train_accuracy: float | None = None
    architecture_problems: tuple[str, ...] = ()
    error: str | None = None


def save_model(model, directory: Path, name: str = "conv_model.keras") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    with public_checks().quiet(), portable_activations(model):
        model.save(path)
    return path


@contextlib.contextmanager
def portable_activations(model):
    """Save activations by what they compute, so every spelling loads in the verifier.

    Keras saves a function by its name and cannot load `tf.nn.softmax` ("softmax_v2") back;
    for the duration of the save, an activation that computes relu, softmax or linear is
    Keras's own function of that name. The student's model is left as it was.
    """
    import keras

    checks = public_checks()
    swapped = []
    try:
        for layer in getattr(model, "layers", []):
            fn = getattr(layer, "activation", None)
            if not callable(fn) or type(layer).__name__ in ("ReLU", "Softmax"):
                continue
            name = checks.computed_activation(fn)
            if name and fn is not getattr(keras.activations, name):
                swapped.append((layer, fn))
                layer.activation = getattr(keras.activations, name)
        yield
    finally:
        for layer, fn in swapped:
            layer.activation = fn


def _result(result: dict) -> AccuracyResult:
    return AccuracyResult(
        accuracy=result.get("accuracy"),
        steps=result.get("steps"),
        train_accuracy=result.get("train_accuracy"),
        architecture_problems=tuple(result.get("architecture_problems") or ()),
        error=result.get("error"),
    )


def evaluate_saved_model(
    path: Path, *, in_process: bool = False, timeout: float | None = None
) -> AccuracyResult:
    """graders.evaluate_model on a saved model; every failure becomes a message.

    `in_process` only where this interpreter is itself fresh and isolated (graders.verify):
    a student's kernel may have patched anything evaluation uses, so there it runs in a
    child process, stopped after `timeout` seconds.
    """
    if in_process:
        from graders import evaluate_model

        return _result(evaluate_model.evaluate(str(path)))
    timeout = timeout or settings.EVAL_TIMEOUT_S
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-m", "graders.evaluate_model", str(Path(path).resolve())],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=Path(path).resolve().parent,
        )
    except subprocess.TimeoutExpired:
        return AccuracyResult(error=f"the grader's evaluation took longer than {timeout:g} s")
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return AccuracyResult(
            error=f"the grader's evaluation failed (exit {done.returncode}: {tail[0]})"
        )
    return _result(result)


def judge(result: AccuracyResult, threshold: float | None = None) -> tuple[bool, str]:
    """(passed, message in the student's words)."""
    threshold = settings.MIN_TEST_ACCURACY if threshold is None else threshold
    if result.error:
        return False, result.error
    if result.architecture_problems:
        return False, (
            "test accuracy is graded for the lab's model only, and the trained model differs: "
            + result.architecture_problems[0]
        )
    if result.steps != settings.TRAIN_STEPS:
        return False, (
            f"the trained model made {result.steps} training steps; the provided training cell "
            f"makes {settings.TRAIN_STEPS:,} ({settings.EPOCHS} epochs of "
            f"{settings.TRAIN_STEPS // settings.EPOCHS} batches of {settings.BATCH_SIZE}). "
            "Run the provided training cell once, unchanged, and do not train conv_model again"
        )
    if result.train_accuracy is not None and result.accuracy > result.train_accuracy:
        return False, (
            f"the model scores higher on the official test images ({result.accuracy:.4f}) than "
            f"on the training images it was trained on ({result.train_accuracy:.4f}): it has "
            "been trained on the test set. Run the provided training cell once and do not "
            "train conv_model again"
        )
    if result.accuracy < threshold:
        return False, (
            f"test accuracy {result.accuracy:.4f} on the official 10,000 test images is below "
            f"the minimum {threshold:.3f}"
        )
    train_acc = result.train_accuracy
    train = "" if train_acc is None else f"; training images {train_acc:.4f}"
    return True, (
        f"test accuracy {result.accuracy:.4f} on the official 10,000 test images "
        f"(minimum {threshold:.3f}{train}), measured by the grader outside your notebook"
    )
