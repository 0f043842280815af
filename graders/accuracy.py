"""Minimum test accuracy, judged in a fresh interpreter on a saved copy of the model.

The student's kernel only saves the trained model; :func:`graders.evaluate_model.evaluate`
loads the official test split itself (digest-checked) and evaluates it, in a fresh
interpreter: graders.verify (the verdict that counts) is one already and evaluates in its own
process; anywhere else (the kernel, ``nbgrader validate``) a child ``python -I`` runs it.
Monkeypatched ``evaluate``/``predict``/``load_data``, overwritten ``test_images``/
``test_labels`` or swapped labels in the kernel therefore cannot change the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from graders import CHECKS_ENV, checks_path, settings


@dataclass
class AccuracyResult:
    accuracy: float | None = None
    steps: int | None = None
    train_accuracy: float | None = None
    architecture_problems: tuple[str, ...] = ()
    trainable: bool = False  # the lab's model, or a near miss Part 5 trains
    error: str | None = None


def _result(result: dict) -> AccuracyResult:
    return AccuracyResult(
        accuracy=result.get("accuracy"),
        steps=result.get("steps"),
        train_accuracy=result.get("train_accuracy"),
        architecture_problems=tuple(result.get("architecture_problems") or ()),
        trainable=bool(result.get("trainable")),
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
    env[CHECKS_ENV] = str(checks_path())  # the child judges with this process's checks
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
    near_miss = ""
    if result.architecture_problems:
        if not result.trainable:
            return False, (
                "test accuracy is graded for the lab's model or a near miss Part 5 trains, and "
                "the trained model is neither: " + result.architecture_problems[0]
            )
        # one slip costs Part 3's item; this one reads the run of the model as written
        near_miss = (
            f"your model is not the lab's ({result.architecture_problems[0]}), judged on its "
            "own run: "
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
        return False, near_miss + (
            f"test accuracy {result.accuracy:.4f} on the official 10,000 test images is below "
            f"the minimum {threshold:.3f}"
        )
    train_acc = result.train_accuracy
    train = "" if train_acc is None else f"; training images {train_acc:.4f}"
    return True, near_miss + (
        f"test accuracy {result.accuracy:.4f} on the official 10,000 test images "
        f"(minimum {threshold:.3f}{train}), measured by the grader outside your notebook"
    )
