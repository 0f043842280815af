"""A content-addressed training cache: a correct submission's autograde does not repeat the
identical 5-epoch training (issue 14; README, "Training cache").

Every honest submission trains the same model, from the same initial weights (the locked
training cell re-seeds right before it builds the model), on the same data, with the same
recipe, on the same software and CPU. The result of that computation is stored once, under a
SHA-256 *key* over everything that decides it; a training whose key is already stored loads
the stored result instead of computing it again: the trained weights, the optimizer's state
(its step counter is what the verifier checks) and the history, and prints the stored
per-epoch lines.

- The key (:func:`ingredients`): the model as a normalised spec (layer classes and settings,
  activations by the function they call, a straight chain from one input to one output), the
  bytes of every weight and of the optimizer's variables (if any exist yet), the optimizer's
  settings, the loss and metrics, the digests of the training arrays actually passed in, epochs,
  batch size, steps per call, the TensorFlow/Keras/NumPy/Python versions, TensorFlow's thread
  settings, the CPU's feature flags (they pick oneDNN's kernels), and the state of every random
  generator fit may draw from (Python, NumPy, Keras, TensorFlow's eager seed stream). Anything
  it cannot describe exactly (a custom layer, a lambda activation, a subclassed model, a graph
  that is not a chain) makes the training *uncacheable*: it trains for real.
- Who reads: ``fit_lab_model`` in c1w3_checks.py, only when ``NBGRADER_C1W3_TRAINING_CACHE``
  names a folder (grading machines; the sandbox binds that folder read-only). A student's
  laptop has neither the variable nor this package: there it is plain ``model.fit``.
- Who writes: only a process with ``C1W3_TRAINING_CACHE_WRITE=1`` (``make warm``: the source
  notebook run once by the instructor, outside any sandbox). The sandbox never forwards that
  variable and binds the folder read-only, so a student's code cannot add or change an entry.
- A broken, partial or foreign entry is a miss (train for real), never an error.

Why a hit cannot change a grade: an entry holds what an honest training of the lab's model
produced; a student whose key matched gets exactly that, which the correct code would have
given them anyway, and the verifier still judges the saved model itself. The proof that a hit
equals a real training bit for bit is tests/test_training_cache.py (slow) and
``python -m course.training_cache audit`` (retrains stored entries and compares every bit).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import platform
import random
import shutil
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

CACHE_ENV = "NBGRADER_C1W3_TRAINING_CACHE"  # the folder; NBGRADER_* reaches the sandbox
WRITE_ENV = "C1W3_TRAINING_CACHE_WRITE"  # "1": may add entries (never forwarded to a sandbox)
FORMAT = 1
VERBOSE = 2  # the training cells' model.fit(..., verbose=2)
# Two library functions that build the same TensorFlow op, so the same training (checked by
# tests/test_training_cache.py: 'relu' and tf.nn.relu train bit for bit alike). tf.nn.softmax
# is NOT 'softmax': Keras's softmax keeps the logits and the loss then starts from them.
SAME_FUNCTION = {"tensorflow.python.ops.gen_nn_ops.relu": "keras.src.activations.activations.relu"}
# Environment variables that only change logging, not a number.
_LOG_ONLY = ("TF_CPP_",)


class Uncacheable(Exception):
    """The training cannot be described exactly: it trains for real."""


# -- the key ---------------------------------------------------------------------------------


def _sha(data) -> str:
    return hashlib.sha256(data).hexdigest()


def array_digest(array) -> dict:
    array = np.ascontiguousarray(np.asarray(array))
    raw = array.view(np.uint8).reshape(-1) if array.size else b""
    return {"sha256": _sha(raw), "dtype": array.dtype.str, "shape": list(array.shape)}


def _function_token(fn) -> str:
    """A library function by its full name ('relu' and tf.nn.relu are one token)."""
    import keras

    if fn is None:
        return "linear"
    if isinstance(fn, str):
        fn = keras.activations.get(fn)
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or ""
    if not module.startswith(("keras.", "tensorflow.")) or not name or "<" in name:
        raise Uncacheable(f"the function {fn!r} is not a Keras or TensorFlow function")
    token = f"{module}.{name}"
    return SAME_FUNCTION.get(token, token)


def _plain_config(value):
    """A layer/compile config as JSON data; library functions by name, other objects refuse."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_config(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain_config(v) for k, v in sorted(value.items())}
    if isinstance(value, np.generic):
        return value.item()
    if callable(value):
        return {"function": _function_token(value)}
    raise Uncacheable(f"a setting that is not plain data: {type(value).__name__}")


def _layer_spec(layer) -> dict:
    cls = type(layer)
    if not cls.__module__.startswith("keras.src."):
        raise Uncacheable(f"layer {cls.__qualname__} is not one of Keras's own layers")
    if "call" in vars(layer):
        raise Uncacheable(f"layer {layer.name} has its own call()")
    config = dict(layer.get_config())
    for name in list(config):  # spelling, not computation (initial weights are hashed)
        if name in ("name", "input_shape", "batch_input_shape", "batch_shape"):
            del config[name]
        elif name.endswith("_initializer"):
            del config[name]
    if "activation" in config:
        config["activation"] = _function_token(getattr(layer, "activation", None))
    return {"class": cls.__name__, "trainable": bool(layer.trainable), **_plain_config(config)}


def model_spec(model) -> dict:
    """The model as a normalised spec: Sequential and functional spellings of one chain of
    layers give the same spec; anything but a chain of Keras layers is Uncacheable."""
    from keras.src.models.functional import Functional
    from keras.src.models.sequential import Sequential

    if type(model) not in (Sequential, Functional):
        raise Uncacheable(f"the model is a {type(model).__name__}, not Sequential or functional")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Uncacheable("the model does not have one input and one output")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    previous = model.inputs[0]
    if type(model) is Sequential:  # a chain by construction (its layers' nodes may be rebuilt)
        layers_to_check = []
        previous = model.outputs[0]
    else:
        layers_to_check = layers
    try:
        for layer in layers_to_check:
            if layer.input is not previous:
                raise Uncacheable(f"layer {layer.name} is not fed by the layer before it")
            previous = layer.output
    except (AttributeError, ValueError) as exc:  # a layer called more than once
        raise Uncacheable(f"the layers are not a simple chain ({exc})") from None
    if previous is not model.outputs[0]:
        raise Uncacheable("the last layer's output is not the model's output")
    tensor = model.inputs[0]
    return {
        "input": {"shape": list(tensor.shape[1:]), "dtype": str(tensor.dtype)},
        "layers": [_layer_spec(layer) for layer in layers],
        "trainable": bool(model.trainable),
    }


def _variables_digest(variables) -> list[dict]:
    return [
        {**array_digest(v.numpy()), "trainable": bool(getattr(v, "trainable", False))}
        for v in variables
    ]


def _optimizer_spec(model) -> dict:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise Uncacheable("the model is not compiled")
    cls = type(optimizer)
    if not cls.__module__.startswith("keras.src."):
        raise Uncacheable(f"optimizer {cls.__qualname__} is not one of Keras's own")
    config = {k: v for k, v in optimizer.get_config().items() if k != "name"}
    built = bool(getattr(optimizer, "built", False))
    return {
        "class": cls.__name__,
        "config": _plain_config(config),
        "variables": _variables_digest(optimizer.variables) if built else "not built",
    }


def _compile_spec(model) -> dict:
    config = dict(model.get_compile_config() or {})
    config.pop("optimizer", None)  # _optimizer_spec, without the optimizer's name
    config.pop("steps_per_execution", None)  # the fit's own setting, below
    return {
        **_plain_config(config),
        "jit_compile": _plain_config(getattr(model, "jit_compile", None)),
        "run_eagerly": bool(getattr(model, "run_eagerly", False)),
    }


def _rng_state() -> dict:
    """Digests of every random state a fit may draw from (the shuffling order comes from them)."""
    from keras.src.backend.common import global_state
    from tensorflow.python.eager import context

    generator = global_state.get_global_attribute("global_seed_generator")
    keras_state = None if generator is None else array_digest(generator.state.numpy())
    ctx = context.context()
    tf_rng = getattr(ctx, "_rng", None)
    numpy_state = np.random.get_state()
    return {
        "python": _sha(repr(random.getstate()).encode()),
        "numpy": [numpy_state[0], array_digest(numpy_state[1]), *map(repr, numpy_state[2:])],
        "keras_seed": repr(global_state.get_global_attribute("global_random_seed")),
        "keras_generator": keras_state,
        "tf_seed": repr(getattr(ctx, "_seed", None)),
        "tf_eager_rng": None if tf_rng is None else _sha(repr(tf_rng.getstate()).encode()),
    }


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):  # x86, arm
            return " ".join(sorted(line.split(":", 1)[1].split()))
    return ""


def _machine() -> dict:
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    env = {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith("TF_") and not k.startswith(_LOG_ONLY)
    }
    threads = {
        "env": env,
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": tf_config.is_op_determinism_enabled(),
    }
    if not {"TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"} <= env.keys():
        threads["cpus"] = len(os.sched_getaffinity(0))  # pools sized by the cores then
    return {
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "backend": keras.backend.backend(),
        },
        "threads": threads,
        "cpu": {"machine": platform.machine(), "flags": _sha(cpu_flags().encode())},
    }


def ingredients(model, images, labels, *, epochs, batch_size, steps_per_execution) -> dict:
    """Everything that decides the trained weights (Uncacheable if it cannot be said exactly)."""
    return {
        "format": FORMAT,
        "model": model_spec(model),
        "weights": _variables_digest(model.weights),
        "optimizer": _optimizer_spec(model),
        "compile": _compile_spec(model),
        "data": {"images": array_digest(images), "labels": array_digest(labels)},
        "fit": {
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "steps_per_execution": int(steps_per_execution),
            "verbose": VERBOSE,
            "shuffle": True,
        },
        "rng": _rng_state(),
        **_machine(),
    }


def key_of(ingredients_: dict) -> str:
    return _sha(json.dumps(ingredients_, sort_keys=True, separators=(",", ":")).encode())


def compute_key(model, images, labels, **fit_args) -> str:
    """The key of a training (fit_args: epochs, batch_size, steps_per_execution)."""
    return key_of(ingredients(model, images, labels, **fit_args))


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
        if _sha(blob) != entry.get("arrays_sha256"):
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
            "arrays_sha256": _sha(blob),
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
                **_machine(),
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


def writer_enabled() -> bool:
    return os.environ.get(WRITE_ENV) == "1"


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
