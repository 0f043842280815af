"""Artifacts: what a hidden test cell saves for the out-of-kernel verifier to judge.

Inside the student's kernel a hidden cell only *collects* (calls the student's function,
reads their answer variables) and writes the result here as data: JSON for answers, a
``.keras`` file for models, ``.npz`` for arrays. :mod:`graders.verify` then judges those
files in a fresh ``python -I`` outside the kernel, so nothing the notebook patched (modules,
``sys.modules``, numpy, subprocess) takes part in deciding points.

Tuples and lists stay distinct (a predicted shape is a tuple); anything that is not plain
data is kept as an opaque marker that every answer normaliser rejects, as it would have
rejected the original object.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from graders import public_checks

GRADING_DIR = Path("_grading")  # beside the autograded notebook


class Opaque:
    """Stands for an answer that was not plain data (a dict, a set, an object...)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def plain(value, depth: int = 0):
    """value as JSON-ready data, keeping tuples and marking everything else opaque."""
    if depth > 20:
        return {"__opaque__": "a structure nested too deeply"}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            return plain(item(), depth + 1)
        except Exception:
            pass
    tolist = getattr(value, "tolist", None)  # numpy arrays: np.array([784, ...]) is a list
    if callable(tolist) and getattr(value, "ndim", 0) >= 1:
        try:
            return plain(list(tolist()), depth + 1)
        except Exception:
            pass
    if isinstance(value, tuple):
        return {"__tuple__": [plain(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [plain(v, depth + 1) for v in value]
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return {"__opaque__": text[:200]}


def unplain(value):
    if isinstance(value, list):
        return [unplain(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(unplain(v) for v in value["__tuple__"])
        return Opaque(str(value.get("__opaque__", "?")))
    return value


def write(grade_id: str, payload: dict, directory: Path = GRADING_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{grade_id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, allow_nan=True))
    os.replace(tmp, path)
    return path


def read(grade_id: str, directory: Path) -> dict | None:
    """The payload a hidden cell saved, or None if it never ran (or left no valid file)."""
    try:
        payload = json.loads((directory / f"{grade_id}.json").read_text())
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def file_in(directory: Path, name) -> Path | None:
    """A file named by a payload, only if it really is inside `directory`."""
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        return None
    path = directory / name
    return path if path.is_file() and not path.is_symlink() else None


# -- models ---------------------------------------------------------------------------------


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
