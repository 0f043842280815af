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
    assert hidden.grade("predict_output_shapes", {"predicted_layers": answer}) == 8
    ns = {"predicted_layers": answer, "predicted_total": 113_386}
    assert hidden.grade("predict_param_counts", ns) == 8


def test_partial_credit_item_by_item_with_error_carried_forward(capsys):
    """Rounding 11/2 up costs the pool2 shape only: the flatten that follows from the
    student's own (6, 6, 32) is accepted, and its message says so."""
    answer = list(LAB)
    answer[3] = ((6, 6, 32), 0)  # rounds 11/2 up
    answer[4] = ((1152,), 0)
    assert hidden.grade("predict_output_shapes", {"predicted_layers": answer}) == 6.86
    out = capsys.readouterr().out
    assert "6 of 7 correct -> 6.86 of 8 points" in out
    assert "pool2 (MaxPooling2D) output shape: expected (5, 5, 32), you predicted (6, 6, 32)" in out
    assert "flatten (Flatten) output shape: (1152,) follows from pool2 shape (6, 6, 32)" in out
    # a flatten that follows from nothing the student wrote is still wrong, and says what would
    answer[4] = ((1000,), 0)
    assert hidden.grade("predict_output_shapes", {"predicted_layers": answer}) == 5.71
    assert "expected (800,), you predicted (1000,) ((1152,) would follow from pool2 shape" in (
        capsys.readouterr().out
    )


def test_param_counts_carry_the_students_own_shapes_and_sum():
    answer = list(LAB)
    answer[0] = ((26, 26, 32), 288)  # forgot the biases
    ns = {"predicted_layers": answer, "predicted_total": 113_354}  # the sum of their own counts
    assert hidden.grade("predict_param_counts", ns) == 7.0  # 7 of 8
    ns["predicted_total"] = 113_000  # neither the model's total nor their own sum
    assert hidden.grade("predict_param_counts", ns) == 6.0
    # a dense layer judged from the student's own flatten: (1152 + 1) * 128
    answer = list(LAB)
    answer[3], answer[4], answer[5] = ((6, 6, 32), 0), ((1152,), 0), ((128,), 147_584)
    ns = {"predicted_layers": answer, "predicted_total": 113_386}
    assert hidden.grade("predict_param_counts", ns) == 8.0


def test_following_the_rules_from_the_true_shapes_gives_the_keras_reference():
    for name in ("lab", "no_pooling", "filters_64", "dense"):
        shape = checks.LAB_INPUT_SHAPE
        for spec, (_, want_shape, want_params) in zip(
            reference.variant(name), reference.expected_layers(name), strict=True
        ):
            assert reference.follow(spec, shape) == (want_shape, want_params), (name, spec)
            shape = want_shape
    assert reference.follow({"kind": "Dense", "units": 4}, (5, 5, 32)) is None  # no rule


def test_variant_and_values_per_image():
    ns = {"no_pooling_layers": NO_POOLING, "no_pooling_total": 2_370_282}
    assert hidden.grade("predict_no_pooling_variant", ns) == 6
    ns = {"values_per_image": [784, 21632, 5408, 3872, 800], "fewer_values_than_pixels": "no"}
    assert hidden.grade("predict_values_per_image", ns) == 6
    ns["values_per_image"] = [784, 784, 5408, 3872, 800]
    assert hidden.grade("predict_values_per_image", ns) == 5
    # error carried forward: counts that follow from the student's own shapes, and the
    # yes/no judged from their own counts (1152 after pool2 is not fewer than 784 either)
    answer = list(LAB)
    answer[3] = ((6, 6, 32), 0)
    ns = {"values_per_image": [784, 21632, 5408, 3872, 1152], "fewer_values_than_pixels": "No",
          "predicted_layers": answer}  # fmt: skip
    assert hidden.grade("predict_values_per_image", ns) == 6
    ns["fewer_values_than_pixels"] = "yes"
    assert hidden.grade("predict_values_per_image", ns) == 5


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
        ([((26, 26, 32), 320.5)] + LAB[1:], "write a whole number like 1_024, got 320.5"),
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
    ns = {"receptive_field": 10, "why_five": " A ", "pooling_discards": "a"}
    assert hidden.grade("concept_questions", ns) == 4.0
    ns["receptive_field"] = "ten"
    assert hidden.grade("concept_questions", ns) == 2.0


def test_weight_sharing_from_the_students_own_count(capsys):
    assert hidden.grade("weight_sharing", {"dense_equivalent_params": 16_981_120}) == 4
    # conv1's outputs miscounted as 21,000 in Part 4: 784 * 21,000 + 21,000 follows from it
    ns = {"dense_equivalent_params": 16_485_000,
          "values_per_image": [784, 21_000, 5408, 3872, 800]}  # fmt: skip
    assert hidden.grade("weight_sharing", ns) == 4
    assert "error carried forward" in capsys.readouterr().out
    ns["dense_equivalent_params"] = 784 * 21_632  # forgot the biases
    assert hidden.grade("weight_sharing", ns) == 0


def _probe_results(conv2=0.5, pool2=0.38, conv=(0.886, 0.76), dense=(0.861, 0.58)):
    return {"conv2": {1: conv2, 2: 0.8}, "pool2": {1: pool2, 2: 0.56},
            "conv accuracy": {0: conv[0], 1: 0.86, 2: conv[1], 3: 0.53},
            "dense accuracy": {0: dense[0], 1: 0.8, 2: dense[1], 3: 0.35}}  # fmt: skip


def test_shift_reading_is_judged_from_the_students_own_numbers(capsys):
    ns = {"steadier_stage": "pool2", "robust_model": "conv", "shift_explains_gain": "no",
          "shift_results": _probe_results()}  # fmt: skip
    assert hidden.grade("shift_reading", ns) == 6
    # a run where pool2 moved more than conv2 and dense kept more accuracy: the opposite answers
    ns["shift_results"] = _probe_results(conv2=0.3, pool2=0.4, conv=(0.88, 0.6), dense=(0.86, 0.7))
    assert hidden.grade("shift_reading", ns) == 2.0
    out = capsys.readouterr().out
    assert "steadier at 1 px: 'conv2' (your probe: conv2 0.300, pool2 0.400 at 1 px)" in out
    ns.update(steadier_stage="conv2", robust_model="DENSE")
    assert hidden.grade("shift_reading", ns) == 6
    # no probe numbers (its cell failed): the course's typical result is the answer
    del ns["shift_results"]
    ns.update(steadier_stage="pool2", robust_model="conv")
    assert hidden.grade("shift_reading", ns) == 6


def _run(conv_acc=0.8865, dense_acc=0.8612, coat_gain=0.138):
    dense = [0.8] * 10
    conv = [0.8 + (coat_gain if k == 4 else 0.01) for k in range(10)]
    return {"conv_test_acc": conv_acc, "dense_test_acc": dense_acc, "conv_params": 113_386,
            "dense_params": 101_770, "per_class": {"conv": conv, "dense": dense}}  # fmt: skip


def test_conv_vs_dense_reads_the_students_run_within_a_measured_tolerance(capsys):
    ns = {"accuracy_gain_points": 2.5, "more_parameters": "conv", "biggest_gain_class": "Coat",
          **_run()}  # fmt: skip
    assert hidden.grade("conv_vs_dense", ns) == 6
    ns["accuracy_gain_points"] = 2.53 + hidden.GAIN_TOLERANCE_POINTS - 0.01  # their machine
    assert hidden.grade("conv_vs_dense", ns) == 6
    ns["accuracy_gain_points"] = 0.025  # a fraction, not points
    assert hidden.grade("conv_vs_dense", ns) == 4.0
    assert "looks like a fraction" in capsys.readouterr().out
    ns.update(accuracy_gain_points=2.5, more_parameters="dense")  # the "fewer parameters" trap
    assert hidden.grade("conv_vs_dense", ns) == 4.0
    # near-ties of the per-class gain are all accepted
    ns.update(more_parameters="conv", biggest_gain_class="Trouser", **_run(coat_gain=0.015))
    assert hidden.grade("conv_vs_dense", ns) == 6
    for name in ("conv_test_acc", "per_class"):  # nothing measured: those items cannot pass
        ns.pop(name)
    assert hidden.grade("conv_vs_dense", ns) == 2.0
    assert "your notebook measured no conv test accuracy" in capsys.readouterr().out


def test_pooling_tradeoff_from_the_given_table():
    table = checks.SEED_TABLE
    best = max(table, key=lambda m: table[m]["test_acc"])
    gap = max(table, key=lambda m: table[m]["train_acc"] - table[m]["test_acc"])
    ratio = round(table["no_pooling"]["fit_s"] / table["conv"]["fit_s"], 1)
    ns = {"highest_test_model": best, "largest_gap_model": gap, "params_ratio": 21,
          "fit_time_ratio": ratio}  # fmt: skip
    assert hidden.grade("pooling_tradeoff", ns) == 8
    ns["params_ratio"] = 2_370_282 / 113_386
    assert hidden.grade("pooling_tradeoff", ns) == 8
    ns["params_ratio"] = 5  # the compute ratio in the wrong place
    assert hidden.grade("pooling_tradeoff", ns) == 6
    # error carried forward: the ratio of the student's own (wrong) totals
    ns.update(predicted_total=113_322, no_pooling_total=2_360_000, params_ratio=20.8)
    assert hidden.grade("pooling_tradeoff", ns) == 8


def test_conclusion():
    assert hidden.grade("conclusion", {"gain_source": "b", "pooling_buys": "B"}) == 4
    assert hidden.grade("conclusion", {"gain_source": "c", "pooling_buys": "a"}) == 0


def test_choice_check():
    checks.check_choice("b", ("a", "b"), "why_five")
    with pytest.raises(checks.AnswerFormatError, match="answer with one of 'a', 'b', got None"):
        checks.check_choice(None, ("a", "b"), "why_five")
    checks.check_numbers({"params_ratio": 21, "fit_time_ratio": 5.2}, "ratios")
    for bad in ("21", True, float("nan"), ...):
        with pytest.raises(checks.AnswerFormatError, match="params_ratio: write a number"):
            checks.check_numbers({"params_ratio": bad}, "ratios")


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
