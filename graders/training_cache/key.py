"""The key of a training: everything that decides its trained weights, as a SHA-256
(graders/training_cache/__init__.py says what goes in and why)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
from pathlib import Path

import numpy as np

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


def sha(data) -> str:
    return hashlib.sha256(data).hexdigest()


def array_digest(array) -> dict:
    array = np.ascontiguousarray(np.asarray(array))
    raw = array.view(np.uint8).reshape(-1) if array.size else b""
    return {"sha256": sha(raw), "dtype": array.dtype.str, "shape": list(array.shape)}


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
        "python": sha(repr(random.getstate()).encode()),
        "numpy": [numpy_state[0], array_digest(numpy_state[1]), *map(repr, numpy_state[2:])],
        "keras_seed": repr(global_state.get_global_attribute("global_random_seed")),
        "keras_generator": keras_state,
        "tf_seed": repr(getattr(ctx, "_seed", None)),
        "tf_eager_rng": None if tf_rng is None else sha(repr(tf_rng.getstate()).encode()),
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


def machine() -> dict:
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
        "cpu": {"machine": platform.machine(), "flags": sha(cpu_flags().encode())},
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
        **machine(),
    }


def key_of(ingredients_: dict) -> str:
    return sha(json.dumps(ingredients_, sort_keys=True, separators=(",", ":")).encode())


def compute_key(model, images, labels, **fit_args) -> str:
    """The key of a training (fit_args: epochs, batch_size, steps_per_execution)."""
    return key_of(ingredients(model, images, labels, **fit_args))
