"""Architecture and compile checks on small, untrained models (no training, < 1 s each).

Every wrong model must fail with the first difference named in plain words; every
equivalent spelling of the lab's model must pass.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf

from course.layout import COURSE_ROOT, Layout
from graders import CHECKS_ENV, hidden, public_checks

L = tf.keras.layers
checks = public_checks()


def lab(first=None, pool=L.MaxPooling2D, act="relu", shape=(28, 28, 1), tail=()):
    """The lab's model with one ingredient swapped."""
    layers = [tf.keras.Input(shape=shape)]
    layers += [
        first or L.Conv2D(32, (3, 3), activation=act),
        pool(2),
        L.Conv2D(32, (3, 3), activation=act),
        pool(2),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax"),
        *tail,
    ]
    return tf.keras.Sequential(layers)


def compiled(
    model, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=("accuracy",)
):  # noqa: E501
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    return model


def seq(*layers, shape=(28, 28, 1)):
    return tf.keras.Sequential([tf.keras.Input(shape=shape), *layers])


def functional():
    inputs = tf.keras.Input(shape=(28, 28, 1))
    x = L.Conv2D(32, 3, activation=tf.nn.relu)(inputs)
    x = L.MaxPool2D()(x)
    x = L.Conv2D(32, 3, activation="relu")(x)
    x = L.MaxPool2D((2, 2))(x)
    x = L.Dense(10, activation="softmax")(L.Dense(128, activation="relu")(L.Flatten()(x)))
    return tf.keras.Model(inputs, x)


def course_idiom():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3 warns about input_shape=; the check must not care
        return tf.keras.models.Sequential(
            [
                L.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                L.MaxPooling2D(2, 2),
                L.Conv2D(32, (3, 3), activation="relu"),
                L.MaxPooling2D(2, 2),
                L.Flatten(),
                L.Dense(128, activation="relu"),
                L.Dense(10, activation="softmax"),
            ]
        )


def separate_activation():
    return seq(
        L.Conv2D(32, 3),
        L.Activation("relu"),
        L.MaxPooling2D(2),
        L.Conv2D(32, 3),
        L.ReLU(),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10),
        L.Softmax(),
    )


CORRECT = {
    "sequential_input_layer": lambda: lab(),
    "functional_api": functional,
    "course_input_shape_idiom": course_idiom,
    "maxpool2d_alias_and_int_kernel": lambda: lab(
        pool=L.MaxPool2D, first=L.Conv2D(32, 3, activation="relu")
    ),
    "tf_nn_relu": lambda: lab(act=tf.nn.relu),
    "separate_activation_layers": separate_activation,
}

WRONG = {  # name -> (model, words the first difference must contain)
    "missing_pooling": (
        lambda: seq(
            L.Conv2D(32, 3, activation="relu"),
            L.Conv2D(32, 3, activation="relu"),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax"),
        ),
        "layer 2: expected MaxPooling2D of 2x2, found Conv2D with 32 filters of 3x3, relu",
    ),
    "filters_64": (
        lambda: lab(first=L.Conv2D(64, (3, 3), activation="relu")),
        "layer 1: expected Conv2D with 32 filters of 3x3, relu, found Conv2D with 64 filters of 3x3",  # noqa: E501
    ),
    "kernel_5x5": (
        lambda: lab(first=L.Conv2D(32, (5, 5), activation="relu")),
        "found Conv2D with 32 filters of 5x5, relu",
    ),
    "sigmoid": (lambda: lab(act="sigmoid"), "found Conv2D with 32 filters of 3x3, sigmoid"),
    "missing_flatten": (
        lambda: seq(
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax"),
        ),
        "layer 5: expected Flatten, found Dense with 128 units, relu",
    ),
    "extra_dense": (
        lambda: lab(tail=(L.Dense(10, activation="softmax"),)),
        "layer 8: expected the model to end after Dense with 10 units",
    ),
    "extra_dropout": (
        lambda: seq(
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Dropout(0.2),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax"),
        ),
        "layer 3: expected Conv2D with 32 filters of 3x3, relu, found Dropout",
    ),
    "batch_normalization": (
        lambda: seq(
            L.Conv2D(32, 3, activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(2),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10, activation="softmax"),
        ),
        "layer 2: expected MaxPooling2D of 2x2, found BatchNormalization",
    ),
    "wrong_input_shape": (
        lambda: lab(shape=(28, 28, 3)),
        "input: expected images of shape (28, 28, 1), found (28, 28, 3)",
    ),
    "flat_input": (
        lambda: tf.keras.Sequential(
            [tf.keras.Input(shape=(784,)), L.Reshape((28, 28, 1)), *lab().layers]
        ),
        "input: expected images of shape (28, 28, 1), found (784,)",
    ),
    "dense_only": (
        lambda: seq(
            L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")
        ),
        "layer 1: expected Conv2D with 32 filters of 3x3, relu, found Flatten",
    ),
    "same_padding": (
        lambda: lab(first=L.Conv2D(32, 3, activation="relu", padding="same")),
        "layer 1: expected the default padding='valid'",
    ),
    "pool_3x3": (
        lambda: lab(pool=lambda n: L.MaxPooling2D(3)),
        "expected MaxPooling2D of 2x2, found MaxPooling2D of 3x3",
    ),
    "average_pooling": (
        lambda: lab(pool=L.AveragePooling2D),
        "layer 2: expected MaxPooling2D of 2x2, found AveragePooling2D",
    ),
    "ends_early": (
        lambda: seq(
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(32, 3, activation="relu"),
        ),
        "layer 4: expected MaxPooling2D of 2x2, found nothing (the model ends early)",
    ),
    "no_softmax": (
        lambda: seq(*lab().layers[:-1], L.Dense(10, name="logits")),
        "layer 7: expected Dense with 10 units, softmax, found Dense with 10 units, linear",
    ),
}


@pytest.mark.parametrize("name", CORRECT)
def test_equivalent_spellings_pass(name):
    assert checks.architecture_problems(CORRECT[name]()) == []


@pytest.mark.parametrize("name", WRONG)
def test_wrong_architecture_names_first_difference(name):
    build, words = WRONG[name]
    problems = checks.architecture_problems(build())
    assert problems, f"{name} should fail"
    assert words in problems[0]


def test_model_without_input_shape_gets_a_hint():
    model = tf.keras.Sequential([L.Conv2D(32, 3, activation="relu"), L.Flatten()])
    assert "has no input shape" in checks.architecture_problems(model)[0]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"optimizer": "sgd"}, "optimizer: expected adam, found SGD"),
        ({"loss": "categorical_crossentropy"}, "loss: expected 'sparse_categorical_crossentropy'"),
        ({"metrics": ()}, "metrics: expected metrics=['accuracy']"),
    ],
)
def test_compile_problems(kwargs, words):
    assert words in checks.compile_problems(compiled(lab(), **kwargs))[0]


def test_compile_accepts_objects():
    model = compiled(
        lab(),
        optimizer=tf.keras.optimizers.Adam(),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=("sparse_categorical_accuracy",),
    )
    assert checks.compile_problems(model) == []


def test_not_compiled():
    assert "not compiled" in checks.compile_problems(lab())[0]


QUIET_PROBE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from graders import hidden, public_checks
tf = public_checks().import_tensorflow()  # as the notebook's setup cell does
L = tf.keras.layers

def build_conv_model():  # the course's idiom, exactly as a student writes it
    model = tf.keras.models.Sequential([
        L.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        L.MaxPooling2D(2, 2), L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D(2, 2),
        L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

if sys.argv[1] == "graded":
    hidden.grade("conv_model_architecture", globals())
    hidden.grade("conv_model_compiled", globals())
else:
    build_conv_model()
"""


# A kernel as a grading starts it: told where the course's checks are (graders.checks_path).
AS_GRADED = {**os.environ, CHECKS_ENV: str(Layout(COURSE_ROOT).public_checks)}


@pytest.mark.process
@pytest.mark.parametrize("mode, stderr_expected", [("graded", False), ("plain", True)])
def test_course_idiom_warning_never_reaches_stderr_when_graded(mode, stderr_expected):
    """nbgrader scores a test cell 0 if it writes to stderr, and Keras 3 warns (on stderr)
    about input_shape=. The 'plain' run is the control: there the warning does appear."""
    done = subprocess.run(
        [sys.executable, "-c", QUIET_PROBE, mode], capture_output=True, text=True, timeout=120,
        env=AS_GRADED,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ("input_shape" in done.stderr) is stderr_expected, done.stderr
    if mode == "graded":
        assert done.stderr == ""
        assert "conv_model_architecture: 1 of 1 correct" in done.stdout


@pytest.mark.process
def test_the_setup_cells_tensorflow_import_writes_nothing_to_stderr():
    """TensorFlow's C++ core prints a banner to descriptor 2 at import on some CPUs (AVX-512:
    'oneDNN custom operations are on', an absl notice), whatever TF_CPP_MIN_LOG_LEVEL says.
    The control import shows what a machine prints; the notebook's import must print nothing."""
    quiet = "from graders import public_checks; tf = public_checks().import_tensorflow(); "
    probe = "tf.constant(1.0) + 1; print(tf.__version__)"
    env = {**AS_GRADED, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", quiet + probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: (_ for _ in ()).throw(NotImplementedError()), "not written yet"),
        (lambda: 1 / 0, "raised ZeroDivisionError"),
        (lambda: "a model", "should return a tf.keras model, it returned str"),
    ],
)
def test_broken_build_functions_fail_with_a_message(build, words):
    with pytest.raises(checks.CheckFailed, match=words):
        hidden.grade("conv_model_architecture", {"build_conv_model": build})


def test_missing_function_is_a_message_not_a_name_error():
    with pytest.raises(checks.CheckFailed, match="build_conv_model is not defined"):
        hidden.grade("conv_model_architecture", {})


def test_check_failed_renders_without_source_lines():
    err = checks.CheckFailed("layer 3: expected X, found Y")
    assert err._render_traceback_() == [
        "\x1b[0;31mCheckFailed\x1b[0m: layer 3: expected X, found Y"
    ]


def test_a_compile_slip_costs_the_compile_item_only():
    """Keras 3's positional compile("adam", loss, ["accuracy"]) puts the metrics in
    loss_weights: the layers are right, so the architecture item and its visible check pass,
    and the compile item says what to write."""

    def build():
        model = lab()
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        return model

    checks.check_conv_model(build)  # the visible architecture check passes
    assert hidden.grade("conv_model_architecture", {"build_conv_model": build}) is None
    with pytest.raises(checks.CheckFailed, match="third positional argument is loss_weights"):
        checks.check_conv_compile(build)
    with pytest.raises(checks.CheckFailed, match="third positional argument is loss_weights"):
        hidden.grade("conv_model_compiled", {"build_conv_model": build})


def test_a_subclassed_model_is_refused_with_the_reason_and_what_to_write():
    class LabModel(tf.keras.Model):
        def __init__(self):
            super().__init__()
            relu = {"activation": "relu"}
            self.stack = [L.Conv2D(32, 3, **relu), L.MaxPooling2D(2), L.Conv2D(32, 3, **relu),
                          L.MaxPooling2D(2), L.Flatten(), L.Dense(128, **relu),
                          L.Dense(10, activation="softmax")]  # fmt: skip

        def call(self, x):
            for layer in self.stack:
                x = layer(x)
            return x

    def build():
        model = LabModel()
        model.build((None, 28, 28, 1))
        return compiled(model)

    reason = "returns a subclassed Model \\(class LabModel\\).*tf.keras.Sequential"
    for check in (checks.check_conv_model, checks.check_conv_compile):
        with pytest.raises(checks.CheckFailed, match=reason):
            check(build)
    for grade_id in ("conv_model_architecture", "conv_model_compiled"):
        with pytest.raises(checks.CheckFailed, match=reason):
            hidden.grade(grade_id, {"build_conv_model": build})


# -- Part 5: which models train (c1w3_checks.training_refusal) --------------------------------

NEAR_MISSES = {
    "same_padding": lambda: lab(first=L.Conv2D(32, 3, activation="relu", padding="same")),
    "average_pooling": lambda: lab(pool=L.AveragePooling2D),
    "strided_conv": lambda: lab(first=L.Conv2D(32, 3, strides=2, activation="relu")),
    "dropout_before_the_head": lambda: seq(
        L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Dropout(0.25),
        L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax"),
    ),  # fmt: skip
    "logits_head": lambda: seq(
        L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10),
    ),  # fmt: skip
    "separate_relu_and_same_padding": lambda: seq(
        L.Conv2D(32, 3, padding="same"),
        L.ReLU(),
        L.MaxPooling2D(2),
        L.Conv2D(32, 3),
        L.Activation("relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(96, activation="relu"),
        L.Dense(10, activation="softmax"),
    ),  # fmt: skip
}
REFUSED = {
    # (model, words of the reason)
    "no_pooling": (WRONG["missing_pooling"][0], "5.6 times the lab's multiply-adds"),
    "filters_64": (
        lambda: seq(
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10, "softmax"),
        ),
        "3.6 times the lab's multiply-adds",
    ),  # fmt: skip
    "dense_only": (
        lambda: seq(L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, "softmax")),
        "has no Conv2D layer",
    ),
    "eleven_outputs": (
        lambda: seq(
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(11, activation="softmax"),
        ),
        "not one value per class",
    ),  # fmt: skip
    "wrong_input": (lambda: lab(shape=(32, 32, 1)), "input: expected images of shape"),
}


def test_the_cost_of_the_lab_model_is_the_seed_tables():
    assert checks.macs_per_image(lab()) == checks.SEED_TABLE["conv"]["macs"] == 1_413_504


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_a_near_miss_trains_and_part_6_sees_its_four_stages(name):
    """Part 5 trains it (one slip costs Part 3's item); Part 6's view of it computes what the
    model computes, with conv1, pool1, conv2, pool2 first."""
    model = compiled(NEAR_MISSES[name]())
    assert checks.architecture_problems(model)
    assert checks.training_refusal(model) is None
    view = checks.sequential_copy(model)
    kinds = [type(layer).__name__ for layer in view.layers[:4]]
    assert kinds[0::2] == ["Conv2D", "Conv2D"] and set(kinds[1::2]) <= checks._POOLING
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    want = model.predict(images, verbose=0)
    assert np.allclose(view.predict(images, verbose=0), want, atol=1e-6)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_model_part_5_does_not_train_is_refused_with_the_reason(name, capsys):
    build, words = REFUSED[name]
    model = compiled(build())
    assert words in checks.training_refusal(model)
    with pytest.raises(checks.CheckFailed, match="Not training: .*Fix build_conv_model"):
        checks.check_before_training(model)


def test_the_lab_model_trains_without_a_note_and_a_near_miss_with_one(capsys):
    checks.check_before_training(compiled(lab()))
    assert capsys.readouterr().out == ""
    checks.check_before_training(compiled(NEAR_MISSES["same_padding"]()))
    assert "It trains as you wrote it" in capsys.readouterr().out


def test_an_uncompiled_near_miss_is_refused():
    assert "not compiled" in checks.training_refusal(NEAR_MISSES["same_padding"]())


def test_part_6_refuses_a_trained_model_whose_first_stages_are_not_conv_pool_conv_pool():
    model = compiled(seq(
        L.Conv2D(8, 3, strides=2, activation="relu"), L.Conv2D(8, 3, activation="relu"),
        L.MaxPooling2D(2), L.MaxPooling2D(2), L.Flatten(), L.Dense(10, activation="softmax"),
    ))  # fmt: skip
    assert checks.training_refusal(model) is None  # it trains (cheaper than the lab's)
    with pytest.raises(checks.CheckFailed, match="Part 6 looks inside conv1, pool1"):
        checks.sequential_copy(model)
