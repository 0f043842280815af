"""Predictions: expected values come from Keras, answers in natural formats are accepted,
and partial credit is item by item."""

import random

import numpy as np
import pytest

from graders import hidden, public_checks, reference

checks = public_checks()

LAB = [
    ((26, 26, 32), 320),
    ((13, 13, 32), 0),
    ((11, 11, 32), 9_248),
    ((5, 5, 32), 0),
    ((800,), 0),
    ((128,), 102_528),
    ((10,), 1_290),
]
NO_POOLING = [((26, 26, 32), 320), ((24, 24, 32), 9_248), ((18_432,), 0),
              ((128,), 2_359_424), ((10,), 1_290)]  # fmt: skip


def test_reference_model_matches_the_course_numbers():
    """Independent numbers from the course notes, checked against the Keras-built reference."""
    assert [(s, p) for _, s, p in reference.expected_layers("lab")] == LAB
    assert reference.expected_total("lab") == 113_386
    assert [(s, p) for _, s, p in reference.expected_layers("no_pooling")] == NO_POOLING
    assert reference.expected_total("no_pooling") == 2_370_282
    assert reference.expected_total("filters_64") == 243_786
    assert reference.values_per_image() == (784, 21_632, 5_408, 3_872, 800)
    assert reference.dense_equivalent_params() == 16_981_120
    assert reference.receptive_field() == 10
    assert reference.receptive_field("no_pooling") == 5


@pytest.mark.parametrize(
    "answer",
    [
        LAB,
        [[list(shape), params] for shape, params in LAB],  # lists instead of tuples
        [((None, *shape), params) for shape, params in LAB],  # with the batch dimension
        [(tuple(np.int64(v) for v in shape), np.int32(p)) for shape, p in LAB],  # numpy ints
        [(shape, float(params)) for shape, params in LAB],  # 320.0
    ],
    ids=["tuples", "lists", "batch_dim", "numpy_ints", "whole_floats"],
)
def test_natural_formats_get_full_marks(answer):
    assert hidden.grade("predict_output_shapes", {"predicted_layers": answer}) == 10
    ns = {"predicted_layers": answer, "predicted_total": 113_386}
    assert hidden.grade("predict_param_counts", ns) == 10


def test_partial_credit_item_by_item(capsys):
    answer = list(LAB)
    answer[3] = ((6, 6, 32), 0)  # rounds 11/2 up
    answer[4] = ((1152,), 0)
    assert hidden.grade("predict_output_shapes", {"predicted_layers": answer}) == 7.14
    out = capsys.readouterr().out
    assert "5 of 7 correct -> 7.14 of 10 points" in out
    assert "pool2 (MaxPooling2D) output shape: expected (5, 5, 32), you predicted (6, 6, 32)" in out


def test_param_counts_include_the_total():
    answer = list(LAB)
    answer[0] = ((26, 26, 32), 288)  # forgot the biases
    ns = {"predicted_layers": answer, "predicted_total": 113_354}
    assert hidden.grade("predict_param_counts", ns) == 7.5  # 6 of 8


def test_variant_and_values_per_image():
    ns = {"no_pooling_layers": NO_POOLING, "no_pooling_total": 2_370_282}
    assert hidden.grade("predict_no_pooling_variant", ns) == 10
    assert (
        hidden.grade(
            "predict_values_per_image", {"values_per_image": [784, 21632, 5408, 3872, 800]}
        )
        == 5
    )  # noqa: E501
    values = {"values_per_image": [784, 784, 5408, 3872, 800]}
    assert hidden.grade("predict_values_per_image", values) == 4


@pytest.mark.parametrize(
    "answer, words",
    [
        (
            {"conv1": ((26, 26, 32), 320)},
            "should be a list with one (output_shape, param_count) pair per layer",
        ),  # noqa: E501
        (LAB[:6], "should have 7 entries, one per layer, it has 6"),
        ([("26x26x32", 320)] + LAB[1:], "layer 1, output shape: write an output shape as a tuple"),
        ([((26, 26, 32), "320")] + LAB[1:], "layer 1, parameter count: write a whole number"),
        ([((26, 26, 32), 320.5)] + LAB[1:], "write a whole number like 9_248, got 320.5"),
        ([((26, 26, 32),)] + LAB[1:], "layer 1: write a pair (output_shape, param_count)"),
        (None, "got NoneType"),
    ],
)
def test_bad_formats_get_a_clear_message_from_the_visible_check(answer, words):
    with pytest.raises(checks.AnswerFormatError, match=None) as err:
        checks.check_layer_predictions(answer, 113_386, name="predicted_layers")
    assert words in str(err.value)
    with pytest.raises(checks.CheckFailed):  # the hidden check says the same, and scores 0
        hidden.grade("predict_output_shapes", {"predicted_layers": answer})


def test_visible_check_reveals_no_value(capsys):
    wrong = [((1, 1, 1), 1)] * 7
    checks.check_layer_predictions(wrong, 5, name="predicted_layers")  # format is fine
    out = capsys.readouterr().out
    assert "format OK" in out and "113" not in out and "26" not in out


def test_concept_questions_partial_credit():
    ns = {"dense_equivalent_params": 16_981_120, "receptive_field": 10,
          "shift_answer": " B ", "pooling_answer": "a"}  # fmt: skip
    assert hidden.grade("concept_questions", ns) == 7.5
    ns["receptive_field"] = "ten"
    assert hidden.grade("concept_questions", ns) == 5.0


def test_choice_check():
    checks.check_choice("b", ("a", "b"), "shift_answer")
    with pytest.raises(checks.AnswerFormatError, match="answer with one of 'a', 'b', got None"):
        checks.check_choice(None, ("a", "b"), "shift_answer")


def test_shift_probe_and_feature_extractor_grade_functions():
    import tensorflow as tf

    def relative_change(before, after):
        n = len(before)
        b, a = np.reshape(before, (n, -1)), np.reshape(after, (n, -1))
        return np.mean(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1))

    hidden.grade("shift_probe", {"relative_change": relative_change})
    with pytest.raises(checks.CheckFailed, match="relative_change on a test batch: expected"):
        hidden.grade("shift_probe", {"relative_change": lambda b, a: np.mean(np.abs(a - b))})

    def stage_outputs(model, images):
        probe = tf.keras.models.Model(model.inputs, [layer.output for layer in model.layers[:4]])
        return probe.predict(images, verbose=0)

    hidden.grade("feature_extractor", {"stage_outputs": stage_outputs})
    with pytest.raises(checks.CheckFailed, match="expected a list of 4 arrays"):
        hidden.grade("feature_extractor", {"stage_outputs": lambda m, x: stage_outputs(m, x)[:3]})


def test_grading_leaves_the_kernels_random_state_alone():
    """Hidden checks run between the student's cells: they must not shift the weights of
    the models the notebook builds afterwards, or the graded run would differ from the
    run the student saw."""
    import tensorflow as tf

    def build_conv_model():
        model = reference.build(reference.variant("lab"))
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model

    def student_like_model():  # default initialisers draw from the global random state
        return tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3)])

    def stage_outputs(model, images):
        probe = tf.keras.models.Model(model.inputs, [layer.output for layer in model.layers[:4]])
        return probe.predict(images, verbose=0)

    tf.keras.utils.set_random_seed(42)
    control = student_like_model().get_weights()[0]
    tf.keras.utils.set_random_seed(42)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    reference.expected_layers.cache_clear()
    hidden.grade("predict_output_shapes", {"predicted_layers": LAB})
    hidden.grade(
        "conv_model_architecture",
        {"build_conv_model": lambda: student_like_model() and build_conv_model()},
    )  # noqa: E501
    hidden.grade("conv_model_compiled", {"build_conv_model": build_conv_model})
    hidden.grade("feature_extractor", {"stage_outputs": stage_outputs})
    assert random.getstate() == python_state  # loading a saved model draws from it
    assert all(
        np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state, strict=True)
    )
    assert np.array_equal(student_like_model().get_weights()[0], control)
