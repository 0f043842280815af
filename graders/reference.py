"""Expected answers, computed from a model specification by the notebook's rules.

Nothing here is a table of numbers: shapes, parameter counts, values per image, multiply-adds
and the receptive field all follow from the one specification in c1w3_checks.py (the lab's
LAB_LAYERS, or a student's own variant from ``variant_for``), so a change to the
specification changes every expected answer with it. tests/test_predictions.py checks the
rules against models Keras builds.
"""

from __future__ import annotations

import functools
import math

from graders import public_checks


def variant(name: str) -> tuple[dict, ...]:
    """The lab's layers, or a variant the students predict without building it."""
    layers = public_checks().LAB_LAYERS
    if name == "lab":
        return layers
    if name == "dense":  # last week's baseline: the lab's classifier head on the pixels
        return tuple(d for d in layers if d["kind"] in ("Flatten", "Dense"))
    if name == "no_pooling":
        return tuple(d for d in layers if d["kind"] != "MaxPooling2D")
    if name == "dense2":  # depth control: two hidden layers, about the conv model's parameters
        hidden = next(d for d in layers if d["kind"] == "Dense")
        return ({"kind": "Flatten"}, hidden, hidden, layers[-1])
    if name == "dense_wide":  # compute control: about the conv model's multiply-adds per image
        return ({"kind": "Flatten"}, {"kind": "Dense", "units": 1780, "activation": "relu"},
                layers[-1])  # fmt: skip
    if name == "filters_64":
        return tuple({**d, "filters": 64} if d["kind"] == "Conv2D" else d for d in layers)
    raise KeyError(f"unknown variant {name!r}")


def build(layers, input_shape=None, seed: int | None = 0):
    """A Keras model from a specification, with its own seeded initialisers.

    Built inside a student's kernel during autograde, it must not touch the kernel's random
    state (that would change the weights of the student's later models): each layer gets
    an explicitly seeded initialiser and the global state is restored afterwards.
    """
    import keras

    checks = public_checks()

    def seeded(i):  # seed None: Keras's default initialisers (the 5-seed benchmark's)
        if seed is None:
            return {}
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed + i)}

    with checks.preserve_rng():
        model = [keras.Input(shape=input_shape or checks.LAB_INPUT_SHAPE)]
        for i, spec in enumerate(layers):
            if spec["kind"] == "Conv2D":
                kind = keras.layers.Conv2D(
                    spec["filters"], spec["kernel"], activation=spec["activation"], **seeded(i)
                )
            elif spec["kind"] == "MaxPooling2D":
                kind = keras.layers.MaxPooling2D(spec["pool"])
            elif spec["kind"] == "Flatten":
                kind = keras.layers.Flatten()
            elif spec["kind"] == "Dense":
                kind = keras.layers.Dense(spec["units"], activation=spec["activation"], **seeded(i))
            else:
                raise ValueError(f"cannot build layer kind {spec['kind']!r}")
            model.append(kind)
        return keras.Sequential(model)


def model_spec(name: str = "lab") -> dict:
    """{"input_shape", "layers"} of a named model: the lab's, or one of its variants."""
    return {"input_shape": tuple(public_checks().LAB_INPUT_SHAPE), "layers": variant(name)}


def student_spec(student_id: str) -> dict:
    """The model student `student_id` predicts in Part 4 (c1w3_checks.variant_for)."""
    return public_checks().variant_for(student_id)


def without_pooling(spec: dict) -> dict:
    layers = tuple(d for d in spec["layers"] if d["kind"] != "MaxPooling2D")
    return {"input_shape": spec["input_shape"], "layers": layers}


def _spec(spec) -> dict:
    return model_spec(spec) if isinstance(spec, str) else spec


def expected_layers(spec="lab") -> tuple[tuple[str, tuple[int, ...], int], ...]:
    """((kind, output shape without batch, parameter count), ...) by the notebook's rules
    (:func:`follow`); tests check that Keras builds the same for every kind of variant."""
    spec = _spec(spec)
    shape, rows = tuple(spec["input_shape"]), []
    for layer in spec["layers"]:
        shape, params = follow(layer, shape)
        rows.append((layer["kind"], shape, params))
    return tuple(rows)


@functools.cache
def keras_layers(name: str = "lab") -> tuple[tuple[str, tuple[int, ...], int], ...]:
    """The same as :func:`expected_layers` for a named model, read off a Keras-built model."""
    return keras_layers_of(model_spec(name))


def keras_layers_of(spec: dict) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    model = build(spec["layers"], spec["input_shape"])
    return tuple(
        (type(layer).__name__, tuple(layer.output.shape[1:]), int(layer.count_params()))
        for layer in model.layers
    )


def expected_total(spec="lab") -> int:
    return sum(params for _, _, params in expected_layers(spec))


def values_per_image(spec="lab") -> tuple[int, ...]:
    """Numbers per image: the input, then after each conv/pool stage up to the Flatten."""
    spec = _spec(spec)
    sizes = [math.prod(spec["input_shape"])]
    for kind, shape, _ in expected_layers(spec):
        if kind in ("Conv2D", "MaxPooling2D"):
            sizes.append(math.prod(shape))
    return tuple(sizes)


def dense_equivalent_params(spec="lab") -> int:
    """Weights of a Dense layer mapping the input pixels to conv1's outputs (weight sharing)."""
    pixels, after_conv1 = values_per_image(spec)[:2]
    return pixels * after_conv1 + after_conv1


def receptive_field(spec="lab") -> int:
    """Side of the input patch one unit after the last pooling layer sees."""
    size, jump = 1, 1
    for d in _spec(spec)["layers"]:
        if d["kind"] == "Conv2D":
            size += (d["kernel"][0] - 1) * jump
        elif d["kind"] == "MaxPooling2D":
            size += (d["pool"][0] - 1) * jump
            jump *= d["pool"][0]
    return size


def multiplications(spec="lab") -> tuple[int, ...]:
    """Multiplications of one forward pass per layer with weights (biases are additions, not
    counted): a conv layer makes out_h * out_w * filters values of k * k * in_channels products
    each, a dense layer inputs * units products."""
    spec = _spec(spec)
    shape, counts = tuple(spec["input_shape"]), []
    for layer in spec["layers"]:
        out, _ = follow(layer, shape)
        if layer["kind"] == "Conv2D":
            kh, kw = layer["kernel"]
            counts.append(math.prod(out) * kh * kw * shape[-1])
        elif layer["kind"] == "Dense":
            counts.append(shape[0] * layer["units"])
        shape = out
    return tuple(counts)


def macs_per_image(spec="lab") -> int:
    """Multiply-adds of one forward pass (biases ignored): the sum of :func:`multiplications`."""
    return sum(multiplications(spec))


def rows_dropped(spec="lab") -> tuple[int, ...]:
    """Rows each pooling layer loses by rounding down (the same number of columns: every
    input here is square): its input's side modulo the window."""
    spec = _spec(spec)
    shape, dropped = tuple(spec["input_shape"]), []
    for layer in spec["layers"]:
        if layer["kind"] == "MaxPooling2D":
            dropped.append(shape[0] % layer["pool"][0])
        shape, _ = follow(layer, shape)
    return tuple(dropped)


def input_rows_used(spec="lab") -> int:
    """Input rows that some value after the last pooling layer depends on, traced backwards:
    a p x p pooling reads p rows per output row, a k x k conv k - 1 rows more than it makes.
    tests/test_predictions.py checks it against the gradients of Keras-built models."""
    spec = _spec(spec)
    stages = [d for d in spec["layers"] if d["kind"] in ("Conv2D", "MaxPooling2D")]
    shape = tuple(spec["input_shape"])
    for layer in stages:
        shape, _ = follow(layer, shape)
    rows = shape[0]
    for layer in reversed(stages):
        if layer["kind"] == "Conv2D":
            rows += layer["kernel"][0] - 1
        else:
            rows *= layer["pool"][0]
    return rows


def unseen_pixels(spec="lab") -> int:
    """Input pixel positions (height x width, whatever the channels) that no value after the
    last pooling layer depends on: the rows and columns past :func:`input_rows_used`."""
    h, w = _spec(spec)["input_shape"][:2]
    used = input_rows_used(spec)
    return h * w - used * used


def follow(layer: dict, input_shape: tuple[int, ...]) -> tuple[tuple[int, ...], int] | None:
    """(output shape, parameters) of one layer of the specification on `input_shape`, by the
    rules the notebook teaches; None when the rules do not apply to that shape.

    Error carried forward: a student's prediction for a layer is also right when it follows
    from the shape *they* predicted for the layer before. (The Keras-built chain above is the
    reference; tests check that following the rules from the true shapes reproduces it.)
    """
    kind = layer["kind"]
    if any(not isinstance(d, int) or d <= 0 for d in input_shape):
        return None
    if kind == "Conv2D" and len(input_shape) == 3:
        (kh, kw), (h, w, c) = layer["kernel"], input_shape
        if h < kh or w < kw:
            return None
        return (h - kh + 1, w - kw + 1, layer["filters"]), (kh * kw * c + 1) * layer["filters"]
    if kind == "MaxPooling2D" and len(input_shape) == 3:
        (ph, pw), (h, w, c) = layer["pool"], input_shape
        if h < ph or w < pw:
            return None
        return (h // ph, w // pw, c), 0
    if kind == "Flatten":
        return (math.prod(input_shape),), 0
    if kind == "Dense" and len(input_shape) == 1:
        return (layer["units"],), (input_shape[0] + 1) * layer["units"]
    return None


# The right option of each lettered question (6f, 6g), as c1w3_checks.CHOICES lists them;
# each student answers with the letter it has in their own order (choices_for).
RIGHT_OPTION = {"gain_source": 1, "pooling_buys": 1, "why_five": 0, "pooling_discards": 1}


def right_letter(student_id: str, name: str) -> str:
    """`student_id`'s letter for the right option of question `name`."""
    right = public_checks().CHOICES[name][RIGHT_OPTION[name]]
    shown = public_checks().choices_for(student_id, name)
    return next(letter for letter, option in shown.items() if option == right)


def wrong_letters(student_id: str, name: str) -> list[str]:
    """`student_id`'s letters for the three wrong options of question `name`."""
    right = right_letter(student_id, name)
    return [letter for letter in public_checks().choices_for(student_id, name) if letter != right]
