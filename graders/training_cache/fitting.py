"""The training cells' fit: a hit loads the stored result, a miss trains (and, for the
instructor's `make warm`, stores it)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from graders.training_cache.entries import CACHE_ENV, load_entry, restore, store, writer_enabled
from graders.training_cache.key import VERBOSE, ingredients, key_of

# -- the training cells' fit -----------------------------------------------------------------


class _Tee(io.TextIOBase):
    def __init__(self, stream):
        self.stream, self.seen = stream, io.StringIO()

    def write(self, text):
        self.seen.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def _full_rng_state() -> dict:
    """The random states themselves (JSON), so the audit can start a retraining from them."""
    from keras.src.backend.common import global_state
    from tensorflow.python.eager import context

    generator = global_state.get_global_attribute("global_seed_generator")
    ctx = context.context()
    tf_rng = getattr(ctx, "_rng", None)
    numpy_state = np.random.get_state()
    return {
        "python": json.loads(json.dumps(random.getstate())),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "keras_seed": global_state.get_global_attribute("global_random_seed"),
        "keras_generator": None if generator is None else generator.state.numpy().tolist(),
        "tf_seed": getattr(ctx, "_seed", None),
        "tf_eager_rng": None if tf_rng is None else json.loads(json.dumps(tf_rng.getstate())),
    }


def set_full_rng_state(state: dict) -> None:
    import tensorflow as tf
    from keras.src.backend.common import global_state
    from tensorflow.python.eager import context

    if state["tf_seed"] is not None:
        tf.random.set_seed(state["tf_seed"])
    if state["tf_eager_rng"] is not None:
        version, internal, gauss = state["tf_eager_rng"]
        context.context()._rng.setstate((version, tuple(internal), gauss))
    global_state.set_global_attribute("global_random_seed", state["keras_seed"])
    global_state.set_global_attribute("global_seed_generator", None)
    if state["keras_generator"] is not None:
        from keras.src.random.seed_generator import global_seed_generator

        global_seed_generator().state.assign(np.array(state["keras_generator"], dtype="uint32"))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))


def _initial_snapshot(model) -> dict:
    """The untrained model (a .keras file) and the random states, for the audit."""
    import tempfile

    from graders import artifacts

    rng = _full_rng_state()
    with tempfile.TemporaryDirectory() as tmp:
        path = artifacts.save_model(model, Path(tmp), "initial.keras")
        return {"model": path.read_bytes(), "rng": rng}


HITS = "training_cache_hits"  # _grading/training_cache_hits.json: the keys this kernel reused


def record_hit(key: str, directory: Path | None = None) -> None:
    """Tell the audit (course/audit.py) which entry served this training. Like the line the
    cell prints, it only decides who may be picked for a real retraining: a student gains
    nothing from writing it."""
    from graders import artifacts

    directory = artifacts.GRADING_DIR if directory is None else Path(directory)
    try:
        known = (artifacts.read(HITS, directory) or {}).get("keys", [])
        artifacts.write(HITS, {"keys": sorted({*known, key})}, directory)
    except OSError:
        pass  # a read-only working folder: the hit is simply not audited


def fit(model, images, labels, *, epochs, batch_size, steps_per_execution, folder=None, write=None):
    """model.fit(images, labels, epochs, batch_size, verbose=2), or the stored result of an
    identical training. Returns a keras History; ``history.training_cache`` says which."""
    folder = folder if folder is not None else os.environ.get(CACHE_ENV, "")
    write = writer_enabled() if write is None else write
    n_images = len(images)
    info = {"hit": False, "key": None, "reason": ""}
    try:
        with warnings.catch_warnings():  # e.g. Keras on serializing a lambda: not the cell's
            warnings.simplefilter("ignore")
            fit_args = dict(
                epochs=epochs, batch_size=batch_size, steps_per_execution=steps_per_execution
            )
            parts = ingredients(model, images, labels, **fit_args)
        info["key"] = key = key_of(parts)
    except Exception as exc:  # Uncacheable, or anything unexpected: train for real
        info["reason"] = f"{type(exc).__name__}: {exc}"
        key = parts = None
    if key and folder:
        found = load_entry(
            folder, key, model, n_images=n_images, epochs=epochs, batch_size=batch_size
        )
        history = None
        if found is not None:
            history = restore(
                model, *found, epochs=epochs, batch_size=batch_size, n_images=n_images
            )
        if history is not None:
            entry = found[1]
            for line in entry["lines"]:
                print(line)
            print(
                f"[the grader's training cache: the stored result of this exact training "
                f"(key {key[:12]}), bit for bit what training again gives]"
            )
            info.update(hit=True)
            history.training_cache = info
            record_hit(key)
            return history
        info["reason"] = info["reason"] or "no entry"
    initial = _initial_snapshot(model) if (write and key and folder) else None
    model.steps_per_execution = steps_per_execution
    tee = _Tee(sys.stdout)
    start = time.monotonic()
    with contextlib.redirect_stdout(tee):
        history = model.fit(images, labels, epochs=epochs, batch_size=batch_size, verbose=VERBOSE)
    history.fit_seconds = time.monotonic() - start
    history.training_cache = info
    if initial is not None:
        lines = tee.seen.getvalue().rstrip("\n").split("\n")
        info["stored"] = str(
            store(folder, key, model, history, lines, parts=parts, initial=initial)
        )
    return history
