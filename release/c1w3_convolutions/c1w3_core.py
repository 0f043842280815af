"""The checking core of the C1W3 convolutions assignment, shared by the notebook's visible
checks (c1w3_checks.py) and the hidden graders: the lab's model written once as data, how a
Keras model is described and compared with it, its compile settings, the step count of a
finished training, each student's own Part 4 model and option letters, the form of a
prediction, and the data the notebook is given.

It lives with the graders (graders/c1w3_core.py) and is released beside the notebook as
c1w3_core.py, the same file. On a grading machine c1w3_checks.py imports the graders' copy,
never one in a submission's folder. It holds no answers: the architecture below is the one
the assignment text asks for, and the prediction checks look only at the *form* of an answer.
Standard library only at import time (Keras and TensorFlow are imported where used).
"""

from __future__ import annotations

import contextlib
import io
import logging
import numbers
import random
import warnings

# The lab's model (C1_W3_Lab_1, 32/32 filters), written once. The graders build
# their reference Keras model from this specification.
# The lab's model (C1_W3_Lab_1, 32/32 filters), written once. The graders build
# their reference Keras model from this specification.
LAB_INPUT_SHAPE = (28, 28, 1)
LAB_LAYERS = (
    {"kind": "Conv2D", "filters": 32, "kernel": (3, 3), "activation": "relu"},
    {"kind": "MaxPooling2D", "pool": (2, 2)},
    {"kind": "Conv2D", "filters": 32, "kernel": (3, 3), "activation": "relu"},
    {"kind": "MaxPooling2D", "pool": (2, 2)},
    {"kind": "Flatten"},
    {"kind": "Dense", "units": 128, "activation": "relu"},
    {"kind": "Dense", "units": 10, "activation": "softmax"},
)
LAB_OPTIMIZER = "adam"
LAB_LOSS = "sparse_categorical_crossentropy"

# Layers that only apply an activation are folded into the layer before them, so
# Conv2D(32, 3) followed by Activation('relu') or ReLU() counts as a relu Conv2D.
_ACTIVATION_LAYERS = {"Activation", "ReLU", "Softmax"}


class CheckFailed(AssertionError):
    """A failed check. Jupyter shows only the message, never the test's source lines."""

    def _render_traceback_(self):  # IPython hook: replaces the whole traceback
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


@contextlib.contextmanager
def quiet():
    """Run student code without letting warnings or prints reach the cell's stderr.

    nbgrader gives 0 to a test cell that writes to stderr, and Keras 3 warns when the
    first layer gets ``input_shape=`` -- exactly how the course writes it.
    """
    sink = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(sink):
                yield sink
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def preserve_rng():
    """Leave every random state as it was, so grading does not change the notebook's results.

    Keras draws each new layer's seed from Python's `random`: a check that builds a model
    in the kernel would otherwise shift the weights of every model built after it, and the
    graded run would no longer match the run the student saw.
    """
    python_state = random.getstate()
    numpy_state = keras_state = None
    with contextlib.suppress(Exception):
        import numpy

        numpy_state = numpy.random.get_state()
    with contextlib.suppress(Exception):
        from keras.src.random.seed_generator import global_seed_generator

        keras_generator = global_seed_generator()
        keras_state = keras_generator.state.numpy().copy()
    try:
        yield
    finally:
        random.setstate(python_state)
        if numpy_state is not None:
            numpy.random.set_state(numpy_state)
        if keras_state is not None:
            with contextlib.suppress(Exception):
                keras_generator.state.assign(keras_state)


# ---------------------------------------------------------------- architecture


def _pair(value):
    if isinstance(value, numbers.Integral):
        return (int(value), int(value))
    return tuple(int(v) for v in value)


# Names Keras or TensorFlow give the same function: tf.nn.softmax is "softmax_v2".
_ACTIVATION_ALIASES = {"softmax_v2": "softmax"}


def computed_activation(fn) -> str | None:
    """'relu', 'softmax' or 'linear' if fn computes it on a fixed input, else None.

    Judging by what the function computes (not by its name) lets every spelling of the same
    computation pass: 'relu', tf.nn.relu, keras.activations.relu, keras.ops.relu, ...
    """
    import numpy as np

    x = np.array([[-2.0, -0.5, 0.0, 0.5, 8.0], [1.0, -1.0, 2.0, 0.25, -3.0]], dtype="float32")
    try:
        with quiet():
            y = np.asarray(fn(x), dtype="float64")
    except Exception:
        return None
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    candidates = {
        "relu": np.maximum(x, 0.0),
        "softmax": e / e.sum(axis=-1, keepdims=True),
        "linear": x,
    }
    for name, want in candidates.items():
        if y.shape == want.shape and np.allclose(y, want, rtol=1e-5, atol=1e-6):
            return name
    return None


def _activation_name(fn) -> str:
    if fn is None:
        return "linear"
    if isinstance(fn, str):
        return _ACTIVATION_ALIASES.get(fn.lower(), fn.lower())
    probed = computed_activation(fn)
    if probed:
        return probed
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return _ACTIVATION_ALIASES.get(name, name)


def describe_layer(layer) -> dict:
    """What matters about one Keras layer, in the vocabulary of LAB_LAYERS."""
    kind = type(layer).__name__
    if kind == "MaxPool2D":
        kind = "MaxPooling2D"
    desc = {"kind": kind}
    if kind == "Conv2D":
        desc.update(
            filters=int(layer.filters),
            kernel=_pair(layer.kernel_size),
            activation=_activation_name(layer.activation),
            strides=_pair(layer.strides),
            padding=layer.padding,
        )
    elif kind == "MaxPooling2D":
        pool = _pair(layer.pool_size)
        desc.update(pool=pool, strides=_pair(layer.strides or pool), padding=layer.padding)
    elif kind == "Dense":
        desc.update(units=int(layer.units), activation=_activation_name(layer.activation))
    elif kind == "Activation":
        desc.update(activation=_activation_name(layer.activation))
    elif kind in ("ReLU", "Softmax"):  # a ReLU(max_value=6) is not the lab's relu
        desc.update(activation=computed_activation(layer) or f"{kind}{_settings(layer)}")
    return desc


def _settings(layer) -> str:
    try:
        config = layer.get_config()
    except Exception:
        return ""
    skip = {"name", "trainable", "dtype"}
    items = [f"{k}={v!r}" for k, v in sorted(config.items()) if k not in skip]
    return f"({', '.join(items)})"


def describe_model(model) -> list[dict]:
    """The model's layers (input layers skipped, activation-only layers folded in)."""
    layers = []
    for layer in model.layers:
        desc = describe_layer(layer)
        if desc["kind"] == "InputLayer":
            continue
        if (
            desc["kind"] in _ACTIVATION_LAYERS
            and layers
            and layers[-1].get("activation") == "linear"
        ):
            layers[-1]["activation"] = desc["activation"]
            continue
        layers.append(desc)
    return layers


def phrase(desc: dict) -> str:
    """A layer in plain words: 'Conv2D with 32 filters of 3x3, relu'."""
    kind = desc["kind"]
    if kind == "Conv2D":
        k = desc["kernel"]
        return f"Conv2D with {desc['filters']} filters of {k[0]}x{k[1]}, {desc['activation']}"
    if kind == "MaxPooling2D":
        p = desc["pool"]
        return f"MaxPooling2D of {p[0]}x{p[1]}"
    if kind == "Dense":
        return f"Dense with {desc['units']} units, {desc['activation']}"
    if kind in _ACTIVATION_LAYERS:
        return f"a separate {kind} layer ({desc.get('activation')})"
    return kind


def _layer_difference(index: int, want: dict, got: dict) -> str | None:
    where = f"layer {index}"
    if got["kind"] != want["kind"]:
        return f"{where}: expected {phrase(want)}, found {phrase(got)}"
    for key, value in want.items():
        if got.get(key) != value:
            return f"{where}: expected {phrase(want)}, found {phrase(got)}"
    default_strides = want.get("pool", (1, 1))  # pooling steps by its window, conv by 1
    if got.get("strides", default_strides) != default_strides:
        return f"{where}: expected the default strides, found strides={got['strides']}"
    if got.get("padding", "valid") != "valid":
        return (
            f"{where}: expected the default padding='valid' (no padding, so 28x28 shrinks), "
            f"found padding='{got['padding']}'"
        )
    return None


def subclass_problem(model) -> str | None:
    """Why a subclassed tf.keras.Model is refused, or None for a Sequential/functional one.

    A subclass's call() is Python code: its layers list does not say how they connect, so the
    grader cannot read the architecture off it (nor reload it without the class)."""
    try:
        import keras
        from keras.src.models.functional import Functional
    except ImportError:
        return None
    if isinstance(model, (keras.Sequential, Functional)) or not isinstance(model, keras.Model):
        return None
    return (
        f"build_conv_model() returns a subclassed Model (class {type(model).__name__}); this "
        "exercise grades the layers of a tf.keras.Sequential([...]) or a functional "
        "tf.keras.Model(inputs, outputs), which the grader can read and reload: write the "
        "same layers that way"
    )


def architecture_problems(model) -> list[str]:
    """Plain-words differences from the lab's model; the first one is the one to fix."""
    subclassed = subclass_problem(model)
    if subclassed:
        return [subclassed]
    try:
        input_shape = tuple(model.input_shape[1:])
    except (AttributeError, ValueError, TypeError):
        return [
            "the model has no input shape yet: start it with "
            "tf.keras.Input(shape=(28, 28, 1)) or give the first layer input_shape=(28, 28, 1)"
        ]
    if input_shape != LAB_INPUT_SHAPE:
        return [f"input: expected images of shape {LAB_INPUT_SHAPE}, found {input_shape}"]
    got = describe_model(model)
    for index, want in enumerate(LAB_LAYERS, start=1):
        if index > len(got):
            return [f"layer {index}: expected {phrase(want)}, found nothing (the model ends early)"]
        problem = _layer_difference(index, want, got[index - 1])
        if problem:
            return [problem]
    if len(got) > len(LAB_LAYERS):
        extra = ", ".join(phrase(d) for d in got[len(LAB_LAYERS) :])
        return [
            f"layer {len(LAB_LAYERS) + 1}: expected the model to end after Dense with 10 units, "
            f"softmax; found extra layers: {extra}. This exercise grades exactly the lab's "
            f"7 layers (Dropout, BatchNormalization and others count as differences)"
        ]
    return []


# Part 5 trains a model that is not the lab's too, when it is a near miss (other padding,
# strides, pooling, an extra Dropout, other sizes): one slip then costs Part 3's architecture
# item, and the later items read that model's own run (error carried forward). The bound keeps
# the training cell inside the grader's 600 s limit on a slow machine: the lab's model trains in
# 50-170 s on the machines measured (docs/machine_spread.md), so twice its multiply-adds per image
# stays under 600 s with a margin of about 1.7x. The model without pooling (5.6x) and the
# public lab's 64 filters (3.6x) are refused, with this reason.
NEAR_MISS_MAX_COST = 2.0
_POOLING = {"MaxPooling2D", "AveragePooling2D"}


def macs_per_image(model) -> int | None:
    """Multiply-adds per image of `model`'s layers with a kernel (kernel size x output
    positions: a Conv2D's h_out * w_out * f * k * k * c_in, a Dense's inputs * units), the
    measure SEED_TABLE's "macs" uses; None when an output shape is unknown."""
    import math

    total = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        try:
            positions = math.prod(int(d) for d in layer.output.shape[1:-1])
        except (AttributeError, TypeError, ValueError):
            return None
        total += math.prod(int(d) for d in kernel.shape) * positions
    return total


def training_refusal(model) -> str | None:
    """Why Part 5 does not train `model`, or None: the lab's model, or a near miss (a
    convolutional model of 28x28x1 images into 10 classes, compiled, at most
    NEAR_MISS_MAX_COST times the lab's multiply-adds per image)."""
    problems = architecture_problems(model)
    if not problems:
        return None
    if subclass_problem(model) or problems[0].startswith(("the model has no input", "input:")):
        return problems[0]
    try:
        outputs = tuple(model.output_shape[1:])
    except (AttributeError, ValueError, TypeError):
        outputs = None
    if outputs != (10,):
        return f"it outputs {outputs}, not one value per class (10): {problems[0]}"
    if not any(d["kind"] == "Conv2D" for d in describe_model(model)):
        return f"Part 3 asks for a convolutional model, and it has no Conv2D layer: {problems[0]}"
    if getattr(model, "optimizer", None) is None:
        return "it is not compiled: build_conv_model() must call model.compile(...)"
    macs, lab = macs_per_image(model), SEED_TABLE["conv"]["macs"]
    if macs is None:
        return f"its cost per image could not be worked out: {problems[0]}"
    if macs > NEAR_MISS_MAX_COST * lab:
        return (
            f"it costs {macs / lab:.1f} times the lab's multiply-adds per image ({macs:,} "
            f"against {lab:,}); a model that is not the lab's trains here up to "
            f"{NEAR_MISS_MAX_COST:g} times (the grader's time limit): {problems[0]}"
        )
    return None


# Strings Keras resolves to sparse categorical accuracy, and the one metric class that is it.
_ACCURACY_NAMES = {"accuracy", "acc", "sparse_categorical_accuracy", "SparseCategoricalAccuracy()"}


def _optimizer_changes(optimizer) -> list[str]:
    """Settings of an Adam optimizer that differ from Adam()'s defaults ('learning_rate=0.01')."""
    try:
        import keras

        default = keras.optimizers.Adam().get_config()
        got = optimizer.get_config()
    except Exception:
        return []
    changes = []
    for key, want in default.items():
        if key == "name":
            continue
        value = got.get(key)
        same = value == want
        if isinstance(value, float) and isinstance(want, float):
            same = abs(value - want) <= 1e-6 * max(abs(want), 1e-12)
        if not same:  # float32 settings: 0.009999999776 is the 0.01 the student wrote
            shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
            changes.append(f"{key}={shown}")
    return changes


def _metric_names(metrics) -> list[str]:
    """Names of compile()'s metrics, whatever their spelling: strings, objects, configs."""
    if isinstance(metrics, dict):
        if "class_name" in metrics:  # one serialized metric
            metrics = [metrics]
        else:  # {output name: metrics}
            metrics = [m for value in metrics.values() for m in _as_list(value)]
    names = []
    for metric in _as_list(metrics):
        if isinstance(metric, str):
            names.append(metric)
        elif isinstance(metric, dict):  # a metric object, as the compile config stores it
            names.append(f"{metric.get('class_name', '?')}()")
        elif hasattr(metric, "update_state"):
            names.append(f"{type(metric).__name__}()")
        else:  # a function
            names.append(getattr(metric, "__name__", type(metric).__name__))
    return names


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def compile_problems(model) -> list[str]:
    config = None
    with contextlib.suppress(Exception):
        config = model.get_compile_config()
    if not config or getattr(model, "optimizer", None) is None:
        return ["the model is not compiled: call model.compile(...) before returning it"]
    problems = []
    optimizer = type(model.optimizer).__name__
    if optimizer.lower() != LAB_OPTIMIZER:
        problems.append(f"optimizer: expected adam, found {optimizer}")
    else:
        changes = _optimizer_changes(model.optimizer)
        if changes:
            problems.append(
                "optimizer: expected adam with its default settings (as 'adam' or Adam()), "
                f"found Adam with {', '.join(changes)}: a different learning rate or setting "
                "is a different training recipe"
            )
    loss = getattr(model, "loss", None)
    loss_name = _loss_name(loss)
    if loss_name != LAB_LOSS:
        problems.append(f"loss: expected '{LAB_LOSS}', found {loss_name!r}")
    elif getattr(loss, "from_logits", False) or (
        hasattr(loss, "get_config") and loss.get_config().get("from_logits")
    ):
        problems.append(
            "loss: from_logits=True tells the loss the model outputs raw scores, but the "
            "lab's model ends in softmax: use from_logits=False (the default)"
        )
    metrics = _metric_names(config.get("metrics"))
    if not any(m in _ACCURACY_NAMES for m in metrics):
        hint = ""
        if any(isinstance(w, str) for w in _as_list(config.get("loss_weights"))):
            hint = (
                " (compile's third positional argument is loss_weights, not metrics: "
                "write metrics=['accuracy'])"
            )
        elif "Accuracy()" in metrics:
            hint = (
                " (Accuracy() compares labels with the 10 probabilities directly: "
                "use 'accuracy' or SparseCategoricalAccuracy())"
            )
        problems.append(
            "metrics: expected metrics=['accuracy'] (the training curves need it), "
            f"found {metrics or 'none'}{hint}"
        )
    return problems


def _loss_name(loss) -> str:
    """'sparse_categorical_crossentropy' for the string, the function or the class."""
    if isinstance(loss, str):
        return {"sparsecategoricalcrossentropy": LAB_LOSS}.get(loss.lower(), loss)
    fn = getattr(loss, "fn", None)  # LossFunctionWrapper
    name = getattr(loss, "__name__", None) or getattr(fn, "__name__", None)
    if name is None:
        name = type(loss).__name__
    if name == "SparseCategoricalCrossentropy":
        return LAB_LOSS
    return str(name)


def build_quietly(build_fn):
    """Call the student's build function; a crash becomes a CheckFailed with its message."""
    if not callable(build_fn):
        got = type(build_fn).__name__
        raise CheckFailed(f"expected a function that returns a model, got {got}")
    try:
        with quiet(), preserve_rng():
            model = build_fn()
    except NotImplementedError:
        raise CheckFailed(
            "build_conv_model() is not written yet (it raises NotImplementedError)"
        ) from None
    except Exception as exc:
        raise CheckFailed(
            f"build_conv_model() raised {type(exc).__name__}: {exc}".rstrip(": ")
        ) from None
    if not hasattr(model, "layers") or not hasattr(model, "fit"):
        raise CheckFailed(
            f"build_conv_model() should return a tf.keras model, it returned {type(model).__name__}"
        )
    return model


def check_training_finished(namespace) -> None:
    """Visible check: both provided training cells ran to their last step.

    A cell stopped half-way (by hand, or by a time limit: `nbgrader validate` gives every cell
    30 s unless it finds the nbgrader_config.py released with this notebook) leaves a model
    that trained for part of its steps; every number after it would be misleading.
    """
    import math

    want = namespace["EPOCHS"] * math.ceil(
        len(namespace["training_images"]) / namespace["BATCH_SIZE"]
    )
    for name, cell in (("dense_model", "Part 2"), ("conv_model", "Part 5")):
        model = namespace.get(name)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            continue  # never built or never compiled: the grader says so
        steps = int(optimizer.iterations.numpy())
        # 0 steps of a model Part 5 refused to train (it said why: training_refusal)
        # (the grader's message names the difference). Any other shortfall, 0 steps included
        # (a time limit can land before the first step), is a training cell that did not end.
        refused = steps == 0 and name == "conv_model" and bool(training_refusal(model))
        if steps < want and not refused:
            raise CheckFailed(
                f"the training cell of {cell} did not finish: {name} made {steps:,} of its "
                f"{want:,} training steps (was the cell interrupted or stopped by a time limit, "
                "or did it show an error?). "
                "Run all cells again (Kernel -> Restart Kernel and Run All Cells); to Validate, "
                "start JupyterLab (or run `nbgrader validate`) in this notebook's folder, where "
                "nbgrader_config.py gives the training cells the time they need"
            )
    print(f"Both models trained for all {want:,} steps.")


def _lab_model():
    """The lab's model (LAB_LAYERS) as a plain Keras Sequential, default initial weights.
    Only the lab's: nothing released builds a student's own Part 4 model for them."""
    import keras

    layers = {
        "Conv2D": lambda d: keras.layers.Conv2D(d["filters"], d["kernel"], activation="relu"),
        "MaxPooling2D": lambda d: keras.layers.MaxPooling2D(d["pool"]),
        "Flatten": lambda d: keras.layers.Flatten(),
        "Dense": lambda d: keras.layers.Dense(d["units"], activation=d["activation"]),
    }
    return keras.Sequential(
        [keras.Input(shape=LAB_INPUT_SHAPE)] + [layers[d["kind"]](d) for d in LAB_LAYERS]
    )


def sequential_copy(model):
    """`model` as a plain Sequential with its trained weights and exactly one layer per stage
    (conv1, pool1, conv2, pool2, ...), so the provided cells of Part 6 can look inside it.

    A correct model can be written many ways: a functional model lists its Input as a layer,
    separate ReLU() layers add layers of their own. For the lab's model this is the lab's
    Sequential holding `model`'s weights; for a near miss that Part 5 trained (see
    training_refusal) its own layers rebuilt the same way, Dropout left out (it does nothing
    when predicting).
    """
    if not architecture_problems(model):
        with quiet(), preserve_rng():  # building draws random initial weights: leave no trace
            copy = _lab_model()
        copy.set_weights(model.get_weights())
        return copy
    with quiet(), preserve_rng():
        copy = _stage_view(model)
    kinds = [type(layer).__name__ for layer in copy.layers[:4]]
    if (
        len(kinds) < 4
        or kinds[0::2] != ["Conv2D", "Conv2D"]
        or not _POOLING.issuperset(kinds[1::2])
    ):
        raise CheckFailed(
            "Part 6 looks inside conv1, pool1, conv2 and pool2, your trained model's first four "
            f"layers, and they are {', '.join(kinds) or 'missing'}: this cell needs a Conv2D, a "
            "pooling layer, a Conv2D and a pooling layer first (see Part 3's message)"
        )
    return copy


def _stage_view(model):
    """A near miss's layers rebuilt from their configs into a Sequential, one per stage."""
    import keras

    kept = []  # [layer, config] per stage
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer" or "Dropout" in kind:
            continue
        activation = describe_layer(layer).get("activation")
        previous = kept[-1][1] if kept else None
        if (
            kind in _ACTIVATION_LAYERS
            and previous is not None
            and previous.get("activation") == "linear"
            and activation in ("relu", "softmax")
        ):
            previous["activation"] = activation  # a separate ReLU() folded into its layer
            continue
        kept.append([layer, layer.get_config()])
    copy = keras.Sequential(
        [keras.Input(shape=model.input_shape[1:])]
        + [type(layer).from_config(config) for layer, config in kept]
    )
    for new, (layer, _) in zip(copy.layers, kept, strict=True):
        new.set_weights(layer.get_weights())
    return copy


# What the provided cells of Parts 5-6 measured, as an output of their own (no visible text):
# the grader judges readings against these, so a later cell that redefines shift_results or
# an accuracy changes nothing but its own answer.
READINGS_MIME = "application/vnd.c1w3.readings+json"


def reading_value(value):
    """A measurement as JSON: numbers as floats (None if not finite), dicts and lists kept."""
    import math

    if isinstance(value, dict):
        return {str(k): reading_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reading_value(v) for v in value]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ------------------------------------------------------------- your own model
# Part 4 asks every student to predict a model of their own: the lab's 7 kinds of layers with
# other sizes, picked from the nbgrader student id (a hash, so the same id always gives the
# same model and two ids rarely share one). Nothing here computes a shape or a count.

VARIANT_INPUTS = ((28, 28, 1), (30, 30, 1), (32, 32, 1), (32, 32, 3))
VARIANT_FILTERS = (8, 16, 24, 48, 64)  # never the lab's 32
VARIANT_KERNELS = (3, 5)
VARIANT_POOLS = (2, 3)
VARIANT_UNITS = (24, 48, 64, 96, 160, 192, 256, 384)  # never the lab's 128


def canonical_id(student_id) -> str:
    """The id as the model is picked from it: "AB123 ", "ab123" and "ａｂ１２３" are one
    student (Unicode NFKC, spaces stripped, case folded), so a slip of form costs nothing."""
    import unicodedata

    if not isinstance(student_id, str) or not student_id.strip():
        raise CheckFailed(
            f'STUDENT_ID: write your nbgrader student id as a string, like "ab123", got '
            f"{student_id!r}"
        )
    return unicodedata.normalize("NFKC", student_id).strip().casefold()


def _variant_digest(student_id) -> bytes:
    import hashlib

    return hashlib.sha256(f"c1w3-variant:{canonical_id(student_id)}".encode()).digest()


def model_code(student_id) -> str:
    """A short code naming the model `student_id` picks (shown by show_variant, repeated by
    the feedback): two ids with the same code predict the same model."""
    return _variant_digest(student_id)[8:10].hex().upper()


def variant_for(student_id) -> dict:
    """{"input_shape": (h, w, c), "layers": (7 layer dicts)}: student `student_id`'s model.

    Never the lab's kernel/pool sizes (3, 3, 2): the receptive field the notebook measures on
    the lab's model is then never this model's.
    """
    number = int.from_bytes(_variant_digest(student_id)[:8], "big")

    def pick(options):
        nonlocal number
        number, index = divmod(number, len(options))
        return options[index]

    sizes = [(k1, k2, p) for k1 in VARIANT_KERNELS for k2 in VARIANT_KERNELS
             for p in VARIANT_POOLS if (k1, k2, p) != (3, 3, 2)]  # fmt: skip
    input_shape = pick(VARIANT_INPUTS)
    k1, k2, pool = pick(sizes)
    f1, f2, units = pick(VARIANT_FILTERS), pick(VARIANT_FILTERS), pick(VARIANT_UNITS)
    layers = (
        {"kind": "Conv2D", "filters": f1, "kernel": (k1, k1), "activation": "relu"},
        {"kind": "MaxPooling2D", "pool": (pool, pool)},
        {"kind": "Conv2D", "filters": f2, "kernel": (k2, k2), "activation": "relu"},
        {"kind": "MaxPooling2D", "pool": (pool, pool)},
        {"kind": "Flatten"},
        {"kind": "Dense", "units": units, "activation": "relu"},
        {"kind": "Dense", "units": 10, "activation": "softmax"},
    )
    return {"input_shape": input_shape, "layers": layers}


# Set by the grading for the kernel it starts: the id nbgrader grades this notebook under
# (course.nbgrader_plugins.student_variables).
GRADED_STUDENT_ENV = "C1W3_GRADED_STUDENT"


# 6f and 6g's multiple-choice options, in the lesson's order. Each student sees them in an
# order and under letters of their own (show_choices), so a classmate's letter is no answer.
CHOICES = {
    "gain_source": (
        "pooling, because it makes the features ignore small shifts",
        "convolution: small filters shared across the whole image",
        "depth: the conv model has more layers with weights than dense",
        "compute: the conv model does many more multiply-adds per image",
    ),
    "pooling_buys": (
        "higher test accuracy than the same model without pooling",
        "a far smaller model, for 1.7 points less test accuracy",
        "less overfitting together with higher test accuracy",
        "nothing the 5-seed table can measure, in size or in accuracy",
    ),
    "why_five": (
        "pooling rounds 11 / 2 = 5.5 down: conv2's last row and column are dropped",
        "conv2's 3x3 kernel trims one more row and column, leaving 10 that halve to 5",
        "the 2x2 windows overlap by one pixel, so only five of them fit across 11",
        "Keras pads 11 to 12 and then drops the padded row and column again",
    ),
    "pooling_discards": (
        "only where each feature is exactly, while all of its values are still kept",
        "3 of every 4 values: each window keeps its largest and drops the rest",
        "whether a feature is present anywhere inside each 2x2 window",
        "half of the filters, keeping those with the strongest responses",
    ),
}
CHOICE_LETTERS = "abcdefghjkmnpqrstuvwxyz"  # no i, l or o: easily read as 1 or 0


def choices_for(student_id, name: str) -> dict[str, str]:
    """{letter: option} for question `name` as student `student_id` sees it: four letters of
    their own, in alphabetical order, each naming one of CHOICES[name] in an order of their own."""
    import hashlib

    digest = hashlib.sha256(f"c1w3-choices:{canonical_id(student_id)}:{name}".encode()).digest()
    number = int.from_bytes(digest[:16], "big")
    pool, letters, options = list(CHOICE_LETTERS), [], list(CHOICES[name])
    for _ in options:
        number, index = divmod(number, len(pool))
        letters.append(pool.pop(index))
    order = []
    while options:
        number, index = divmod(number, len(options))
        order.append(options.pop(index))
    return dict(zip(sorted(letters), order, strict=True))


# ----------------------------------------------------------------- predictions


class AnswerFormatError(CheckFailed):
    """An answer that cannot be read as a shape or a count."""


def normalize_shape(answer, where: str) -> tuple[int, ...]:
    """(7, 7, 16), [7, 7, 16] and (None, 7, 7, 16) all become (7, 7, 16)."""
    if isinstance(answer, str) or not hasattr(answer, "__iter__"):
        raise AnswerFormatError(
            f"{where}: write an output shape as a tuple of integers like (7, 7, 16), got {answer!r}"
        )
    items = list(answer)
    if items and items[0] is None:
        items = items[1:]  # the batch dimension, as model.summary() shows it
    if not items or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items
    ):
        raise AnswerFormatError(
            f"{where}: write an output shape as a tuple of integers like (7, 7, 16), got {answer!r}"
        )
    return tuple(int(v) for v in items)


def normalize_count(answer, where: str) -> int:
    """A parameter or value count: an int (1_024) or a float with no fraction."""
    if isinstance(answer, bool) or answer is None or answer is ...:
        raise AnswerFormatError(f"{where}: write a whole number like 1_024, got {answer!r}")
    if isinstance(answer, numbers.Integral):
        return int(answer)
    if isinstance(answer, numbers.Real) and float(answer).is_integer():
        return int(answer)
    raise AnswerFormatError(f"{where}: write a whole number like 1_024, got {answer!r}")


def read_layer_predictions(predictions, n_layers: int, name: str):
    """[(shape, params), ...] one per layer -> [(shape tuple, int), ...] or AnswerFormatError."""
    if isinstance(predictions, dict) or not isinstance(predictions, (list, tuple)):
        raise AnswerFormatError(
            f"{name} should be a list with one (output_shape, param_count) pair per layer, "
            f"got {type(predictions).__name__}"
        )
    if len(predictions) != n_layers:
        raise AnswerFormatError(
            f"{name} should have {n_layers} entries, one per layer, it has {len(predictions)}"
        )
    rows = []
    for index, row in enumerate(predictions, start=1):
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            raise AnswerFormatError(
                f"{name}, layer {index}: write a pair (output_shape, param_count), got {row!r}"
            )
        rows.append(
            (
                normalize_shape(row[0], f"{name}, layer {index}, output shape"),
                normalize_count(row[1], f"{name}, layer {index}, parameter count"),
            )
        )
    return rows


def as_list(values):
    """A list, tuple or 1-D numpy array of answers as a list (anything else unchanged)."""
    tolist = getattr(values, "tolist", None)
    if callable(tolist) and getattr(values, "ndim", None) == 1:
        return list(tolist())
    return values


def read_number(answer, where: str) -> float:
    """A measured quantity: an int or a float (not a string, not a bool, not NaN)."""
    if isinstance(answer, numbers.Real) and not isinstance(answer, bool):
        value = float(answer)
        if value == value and abs(value) != float("inf"):
            return value
    raise AnswerFormatError(f"{where}: write a number like 2.5, got {answer!r}")


# ------------------------------------------------------------------ given data

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip

# The five models of Part 6e, each trained with seeds 0-4 and this notebook's recipe (5 epochs,
# batch 128, adam; TensorFlow 2.21, 2 threads) by the course's benchmarks/pooling_seeds.py.
# Accuracies are *evaluated* after training on all 60,000 training and all 10,000 test images
# (not the running average that fit() prints): mean and standard deviation over the 5 seeds;
# shift2_acc: test accuracy with every test image moved 2 pixels, left and right averaged;
# macs: multiply-adds per image (a conv layer out_h * out_w * filters * k * k * in_channels,
# a dense layer inputs * units).
SEED_TABLE = {
    "dense": {"train_acc": 0.8908, "train_sd": 0.0034, "test_acc": 0.8683,
             "test_sd": 0.0031, "shift2_acc": 0.5661, "params": 101770,
             "macs": 101632},
    "dense2": {"train_acc": 0.8956, "train_sd": 0.0035, "test_acc": 0.8723,
             "test_sd": 0.0042, "shift2_acc": 0.5672, "params": 118282,
             "macs": 118016},
    "dense_wide": {"train_acc": 0.9029, "train_sd": 0.001, "test_acc": 0.8772,
             "test_sd": 0.0018, "shift2_acc": 0.5948, "params": 1415110,
             "macs": 1413320},
    "conv": {"train_acc": 0.9048, "train_sd": 0.0023, "test_acc": 0.8898,
             "test_sd": 0.0021, "shift2_acc": 0.776, "params": 113386,
             "macs": 1413504},
    "no_pooling": {"train_acc": 0.9552, "train_sd": 0.0033, "test_acc": 0.9064,
             "test_sd": 0.0013, "shift2_acc": 0.7143, "params": 2370282,
             "macs": 7863680},
}  # fmt: skip
SEED_TABLE_SEEDS = 5
