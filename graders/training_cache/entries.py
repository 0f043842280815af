"""The cache's folder: entries (a training's result, complete or absent) and stored
evaluations of known weights; who may write them."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

from graders.training_cache.key import (
    FORMAT,
    VERBOSE,
    array_digest,
    key_of,
    machine,
    model_spec,
    sha,
)

CACHE_ENV = "NBGRADER_C1W3_TRAINING_CACHE"  # the folder; NBGRADER_* reaches the sandbox
WRITE_ENV = "C1W3_TRAINING_CACHE_WRITE"  # "1": may add entries (never forwarded to a sandbox)


def writer_enabled() -> bool:
    return os.environ.get(WRITE_ENV) == "1"


# -- entries ---------------------------------------------------------------------------------
# <folder>/<key>/entry.json  (history, printed lines, digests) and arrays.npz (w0.., o0..),
# initial.keras (the model before training, for the audit). Written into a temporary folder,
# then renamed into place: an entry is complete or absent.


def _steps(n_images: int, epochs: int, batch_size: int) -> int:
    return int(epochs) * math.ceil(n_images / int(batch_size))


def load_entry(folder, key: str, model, *, n_images: int, epochs: int, batch_size: int):
    """(arrays, entry) for `key` if the stored entry is complete and fits `model`; else None.
    Reads only; any problem (missing, partial, corrupt, foreign) is a miss."""
    try:
        where = Path(folder) / key
        entry = json.loads((where / "entry.json").read_text())
        if entry.get("format") != FORMAT or entry.get("key") != key:
            return None
        blob = (where / "arrays.npz").read_bytes()
        if sha(blob) != entry.get("arrays_sha256"):
            return None
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        weights = [arrays[f"w{i}"] for i in range(len(model.weights))]
        for array, variable in zip(weights, model.weights, strict=True):
            if array.shape != tuple(variable.shape) or array.dtype != np.dtype(variable.dtype):
                return None
        n_opt = int(entry["optimizer_variables"])
        optimizer = [arrays[f"o{i}"] for i in range(n_opt)]
        if len(arrays) != len(weights) + n_opt:
            return None
        history = entry["history"]
        if not isinstance(history, dict) or not all(
            isinstance(v, list) and len(v) == epochs and all(isinstance(x, float) for x in v)
            for v in history.values()
        ):
            return None
        if not all(isinstance(line, str) for line in entry["lines"]):
            return None
        if int(entry["iterations"]) != _steps(n_images, epochs, batch_size):
            return None
        return {"weights": weights, "optimizer": optimizer}, entry
    except Exception:
        return None


def restore(model, arrays: dict, entry: dict, *, epochs: int, batch_size: int, n_images: int):
    """Put a stored result into `model`; returns a keras History like fit's, or None if the
    entry does not fit this model's optimizer (then nothing was changed but an empty build)."""
    import keras

    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)  # what fit does first
    variables = list(optimizer.variables)
    if len(variables) != len(arrays["optimizer"]) or any(
        tuple(v.shape) != a.shape or np.dtype(v.dtype) != a.dtype
        for v, a in zip(variables, arrays["optimizer"], strict=True)
    ):
        return None
    iterations = [
        a for v, a in zip(variables, arrays["optimizer"], strict=True) if v is optimizer.iterations
    ]
    if len(iterations) != 1 or int(iterations[0]) != int(entry["iterations"]):
        return None
    for variable, array in zip(model.weights, arrays["weights"], strict=True):
        variable.assign(array)
    for variable, array in zip(variables, arrays["optimizer"], strict=True):
        variable.assign(array)
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = {name: list(values) for name, values in entry["history"].items()}
    history.epoch = list(range(epochs))
    history.params = {
        "verbose": VERBOSE,
        "epochs": epochs,
        "steps": math.ceil(n_images / batch_size),
    }
    model.history = history
    return history


def store(folder, key: str, model, history, lines: list[str], *, parts: dict, initial) -> Path:
    """Write one entry atomically (a finished entry is never replaced)."""
    folder = Path(folder)
    final = folder / key
    if final.exists():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        weights = [v.numpy() for v in model.weights]
        opt = [v.numpy() for v in model.optimizer.variables]
        buffer = io.BytesIO()
        named = {f"w{i}": a for i, a in enumerate(weights)}
        named.update({f"o{i}": a for i, a in enumerate(opt)})
        np.savez(buffer, **named)
        blob = buffer.getvalue()
        (tmp / "arrays.npz").write_bytes(blob)
        if initial is not None:
            (tmp / "initial.keras").write_bytes(initial["model"])
        entry = {
            "format": FORMAT,
            "key": key,
            "arrays_sha256": sha(blob),
            "weights": [array_digest(a) for a in weights],
            "optimizer_variables": len(opt),
            "optimizer_digests": [array_digest(a) for a in opt],
            "iterations": int(model.optimizer.iterations.numpy()),
            "history": {k: [float(x) for x in v] for k, v in history.history.items()},
            "lines": lines,
            "ingredients": parts,
            "rng_state": initial["rng"] if initial is not None else None,
            "written": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "fit_seconds": round(history.fit_seconds, 1),
        }
        (tmp / "entry.json").write_text(json.dumps(entry, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:  # another writer was first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# -- evaluations of known weights (the verifier's 70,000 predictions, issue 14) -----------------

EVALUATIONS = "evaluations"  # <cache>/evaluations/<key>.json


def evaluation_key(model) -> str | None:
    """SHA-256 over what decides a saved model's accuracies: its normalised spec, the bytes of
    every weight, the official data's pinned digests, software, threads and CPU. None when the
    model cannot be described exactly (it is then simply evaluated)."""
    from graders import data

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = {
                "format": FORMAT,
                "model": model_spec(model),
                "weights": [array_digest(v.numpy()) for v in model.weights],
                "data": {name: digest for name, (digest, _) in sorted(data.OFFICIAL_FILES.items())},
                **machine(),
            }
    except Exception:
        return None
    return key_of(parts)


def known_evaluation(key: str | None, folder=None) -> dict | None:
    """The accuracies an instructor's run measured for exactly these weights, or None."""
    folder = folder if folder is not None else os.environ.get(CACHE_ENV, "")
    if not key or not folder:
        return None
    try:
        stored = json.loads((Path(folder) / EVALUATIONS / f"{key}.json").read_text())
        if stored.get("key") != key:
            return None
        return {
            "accuracy": float(stored["accuracy"]),
            "train_accuracy": float(stored["train_accuracy"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: evaluate


def store_evaluation(key: str | None, result: dict, folder=None) -> None:
    """Only a writer (``make warm``) records an evaluation; atomically, never replacing one."""
    folder = folder if folder is not None else os.environ.get(CACHE_ENV, "")
    if not (key and folder and writer_enabled()):
        return
    target = Path(folder) / EVALUATIONS
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".tmp-{uuid.uuid4().hex}"
    record = {
        "key": key,
        "accuracy": result["accuracy"],
        "train_accuracy": result["train_accuracy"],
        "written": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    tmp.write_text(json.dumps(record, indent=1))
    final = target / f"{key}.json"
    if final.exists():
        tmp.unlink()
    else:
        os.replace(tmp, final)
