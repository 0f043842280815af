"""The spelling matrix: every way a student of this course writes the lab's model passes
every place a model is judged, and changed recipes fail with a message that says so.

No training: each model goes through the judging code the verifier runs (collect in the
kernel -> .keras file -> load with safe_mode -> judge), plus the training cell's gate.
"""

from __future__ import annotations

import itertools

import keras
import pytest
import tensorflow as tf

from graders import evaluate_model, hidden, public_checks
from tests.support.spellings import (
    ACTIVATIONS,
    MODELS,
    sequential,
    sequential_layers,
)

checks = public_checks()


OPTIMIZERS = {
    "adam": lambda: "adam",
    "Adam": lambda: "Adam",
    "tf_keras_Adam()": lambda: tf.keras.optimizers.Adam(),
    "keras_Adam(lr=0.001)": lambda: keras.optimizers.Adam(learning_rate=0.001),
}
LOSSES = {
    "string": lambda: "sparse_categorical_crossentropy",
    "function": lambda: tf.keras.losses.sparse_categorical_crossentropy,
    "instance": lambda: tf.keras.losses.SparseCategoricalCrossentropy(),
    "instance_from_logits_false": lambda: keras.losses.SparseCategoricalCrossentropy(
        from_logits=False
    ),
}
METRICS = {
    "accuracy": lambda: ["accuracy"],
    "acc": lambda: ["acc"],
    "sparse_categorical_accuracy": lambda: ["sparse_categorical_accuracy"],
    "SparseCategoricalAccuracy()": lambda: [tf.keras.metrics.SparseCategoricalAccuracy()],
    "named_metric_object": lambda: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
}


def _builder(model_name, activation_name, optimizer="adam", loss="string", metrics="accuracy"):
    def build_conv_model():
        model = MODELS[model_name](*ACTIVATIONS[activation_name])
        model.compile(
            optimizer=OPTIMIZERS[optimizer](), loss=LOSSES[loss](), metrics=METRICS[metrics]()
        )
        return model

    return build_conv_model


def _judged(grade_id, build_conv_model, tmp_path):
    payload = hidden.collect(grade_id, {"build_conv_model": build_conv_model}, tmp_path)
    report, _ = hidden.judge(grade_id, payload, tmp_path)
    return report


# Every model spelling with every activation spelling; the compile spellings cycle along.
PAIRS = [
    (m, a, o, lo, me)
    for (m, a), o, lo, me in zip(
        itertools.product(MODELS, ACTIVATIONS),
        itertools.cycle(OPTIMIZERS),
        itertools.cycle(LOSSES),
        itertools.cycle(METRICS),
        strict=False,
    )
]


@pytest.mark.parametrize("model, activation, optimizer, loss, metrics", PAIRS)
def test_every_spelling_passes_where_the_verifier_judges(
    model, activation, optimizer, loss, metrics, tmp_path
):
    build = _builder(model, activation, optimizer, loss, metrics)
    for grade_id in ("conv_model_architecture", "conv_model_compiled"):
        report = _judged(grade_id, build, tmp_path)
        assert report.correct == len(report.lines) == 1, report.text()
    # The training cell's gate, and the trained model's round trip (the accuracy grade's input).
    trained = build()
    assert checks.architecture_problems(trained) == []
    payload = hidden.collect("conv_test_accuracy", {"conv_model": trained}, tmp_path)
    assert payload == {"model": "conv_model.keras"}, payload
    loaded = hidden._load(tmp_path, payload)
    assert checks.architecture_problems(loaded) == []
    assert checks.compile_problems(loaded) == []


@pytest.mark.parametrize(
    "optimizer, loss, metrics",
    list(itertools.product(OPTIMIZERS, LOSSES, METRICS)),
)
def test_every_compile_spelling_passes(optimizer, loss, metrics):
    model = _builder("sequential_tf_keras", "strings", optimizer, loss, metrics)()
    assert checks.compile_problems(model) == []


@pytest.mark.system
def test_the_saved_model_keeps_the_students_objects_and_evaluates(tmp_path):
    """The C1_W2 spelling end to end through the accuracy grader's loader and evaluation."""
    model = _builder("functional_api", "tf_nn", "tf_keras_Adam()", "instance")()
    payload = hidden.collect("conv_test_accuracy", {"conv_model": model}, tmp_path)
    assert model.layers[-1].activation is tf.nn.softmax  # the student's model is unchanged
    result = evaluate_model.evaluate(str(tmp_path / payload["model"]))
    assert result.get("error") is None, result
    assert result["architecture_problems"] == [] and result["steps"] == 0
    assert 0.0 <= result["accuracy"] <= 1.0


def _compile_with(**kwargs):
    model = sequential("relu", "softmax")
    model.compile(**kwargs)
    return model


CHANGED_RECIPES = {  # what the student wrote -> words of the message
    "learning_rate": (
        dict(
            optimizer=keras.optimizers.Adam(learning_rate=0.01),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        ),
        "expected adam with its default settings (as 'adam' or Adam()), found Adam with "
        "learning_rate=0.01",
    ),
    "from_logits": (
        dict(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        ),
        "from_logits=True tells the loss the model outputs raw scores",
    ),
    "metrics_as_loss_weights": (
        dict(optimizer="adam", loss="sparse_categorical_crossentropy", loss_weights=["accuracy"]),
        "third positional argument is loss_weights, not metrics",
    ),
    "plain_accuracy_object": (
        dict(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=[keras.metrics.Accuracy()],
        ),
        "Accuracy() compares labels with the 10 probabilities directly",
    ),
    "sgd": (
        dict(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"]),
        "optimizer: expected adam, found SGD",
    ),
}


@pytest.mark.parametrize("name", CHANGED_RECIPES)
def test_a_changed_recipe_says_what_changed(name):
    kwargs, words = CHANGED_RECIPES[name]
    problems = checks.compile_problems(_compile_with(**kwargs))
    assert problems and words in problems[0], problems


@pytest.mark.parametrize(
    "activation, found",
    [
        (tf.nn.relu6, "relu6"),
        (tf.nn.sigmoid, "sigmoid"),
        (lambda x: x * 2, "<lambda>"),
    ],
)
def test_an_activation_that_computes_something_else_is_named(activation, found):
    model = sequential(activation, "softmax")
    problem = checks.architecture_problems(model)[0]
    assert (
        f"expected Conv2D with 32 filters of 3x3, relu, found Conv2D with 32 filters of 3x3, "
        f"{found}" in problem
    )


def test_a_capped_relu_layer_is_not_the_labs_relu():
    L = tf.keras.layers
    model = sequential_layers(
        L.Conv2D(32, 3),
        L.ReLU(max_value=6.0),
        *sequential("relu", "softmax").layers[1:],
    )
    assert "found Conv2D with 32 filters of 3x3, ReLU(" in checks.architecture_problems(model)[0]
