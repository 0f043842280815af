"""Expected answers, computed by building the reference model in Keras from LAB_LAYERS.

Nothing here is a table of numbers: shapes, parameter counts, values per image and the
receptive field all follow from the one specification in c1w3_checks.py, so a change to
the specification changes every expected answer with it.
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
    if name == "filters_64":
        return tuple({**d, "filters": 64} if d["kind"] == "Conv2D" else d for d in layers)
    raise KeyError(f"unknown variant {name!r}")


def build(layers, input_shape=None, seed: int = 0):
    """A Keras model from a specification, with its own seeded initialisers.

    Built inside a student's kernel during autograde, it must not touch the kernel's random
    state (that would change the weights of the student's later models): each layer gets
    an explicitly seeded initialiser and the global state is restored afterwards.
    """
    import keras

    checks = public_checks()

    def seeded(i):
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed + i)}

    with checks.preserve_rng():
        return checks.build_model(layers, input_shape or checks.LAB_INPUT_SHAPE, seeded)


@functools.cache
def expected_layers(name: str = "lab") -> tuple[tuple[str, tuple[int, ...], int], ...]:
    """((kind, output shape without batch, parameter count), ...) for a variant."""
    model = build(variant(name))
    return tuple(
        (type(layer).__name__, tuple(layer.output.shape[1:]), int(layer.count_params()))
        for layer in model.layers
    )


def expected_total(name: str = "lab") -> int:
    return sum(params for _, _, params in expected_layers(name))


def values_per_image(name: str = "lab") -> tuple[int, ...]:
    """Numbers per image: the input, then after each conv/pool stage up to the Flatten."""
    checks = public_checks()
    sizes = [math.prod(checks.LAB_INPUT_SHAPE)]
    for kind, shape, _ in expected_layers(name):
        if kind in ("Conv2D", "MaxPooling2D"):
            sizes.append(math.prod(shape))
    return tuple(sizes)


def dense_equivalent_params(name: str = "lab") -> int:
    """Weights of a Dense layer mapping the input pixels to conv1's outputs (weight sharing)."""
    pixels, after_conv1 = values_per_image(name)[:2]
    return pixels * after_conv1 + after_conv1


def receptive_field(name: str = "lab") -> int:
    """Side of the input patch one unit after the last pooling layer sees."""
    size, jump = 1, 1
    for d in variant(name):
        if d["kind"] == "Conv2D":
            size += (d["kernel"][0] - 1) * jump
        elif d["kind"] == "MaxPooling2D":
            size += (d["pool"][0] - 1) * jump
            jump *= d["pool"][0]
    return size


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
