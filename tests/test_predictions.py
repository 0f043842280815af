"""Predictions: every student predicts their own model; expected values follow the rules,
which match what Keras builds; answers in natural formats are accepted, and partial credit
is item by item."""

import json
import random

import numpy as np
import pytest

from graders import hidden, public_checks, reference

checks = public_checks()
POINTS = hidden.POINTS


def share(grade_id: str, right: int, of: int) -> float:
    """The points `right` of `of` equally weighted items earn (graders.report.Report)."""
    return round(POINTS[grade_id] * right / of, 2)


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

# Student "ada" predicts her own model (c1w3_checks.variant_for): 30x30x1 input, Conv2D 64 of
# 3x3, 3x3 pooling, Conv2D 24 of 3x3, 3x3 pooling, Dense 160. Worked out by hand from the rules:
ADA = "ada"
ADA_LAYERS = [
    ((28, 28, 64), 640),  # 30-3+1; (3*3*1+1)*64
    ((9, 9, 64), 0),  # 28 // 3
    ((7, 7, 24), 13_848),  # (3*3*64+1)*24
    ((2, 2, 24), 0),  # 7 // 3
    ((96,), 0),
    ((160,), 15_520),  # (96+1)*160
    ((10,), 1_610),  # (160+1)*10
]
ADA_TOTAL = 31_618
# Student "chen": 32x32x3 input, Conv2D 48 of 5x5, 2x2 pooling, Conv2D 8 of 5x5, Dense 24.
CHEN = "chen"
CHEN_LAYERS = [((28, 28, 48), 3_648), ((14, 14, 48), 0), ((10, 10, 8), 9_608), ((5, 5, 8), 0),
               ((200,), 0), ((24,), 4_824), ((10,), 250)]  # fmt: skip
CHEN_NO_POOLING = [((28, 28, 48), 3_648), ((24, 24, 8), 9_608), ((4_608,), 0),
                   ((24,), 110_616), ((10,), 250)]  # fmt: skip


def test_reference_model_matches_the_course_numbers():
    """Independent numbers from the course notes, checked against the reference rules and
    the Keras-built model."""
    assert [(s, p) for _, s, p in reference.expected_layers("lab")] == LAB
    assert reference.keras_layers("lab") == reference.expected_layers("lab")
    assert reference.expected_total("lab") == 113_386
    assert [(s, p) for _, s, p in reference.expected_layers("no_pooling")] == NO_POOLING
    assert reference.expected_total("no_pooling") == 2_370_282
    assert reference.expected_total("filters_64") == 243_786
    assert reference.values_per_image() == (784, 21_632, 5_408, 3_872, 800)
    assert reference.dense_equivalent_params() == 16_981_120
    assert reference.receptive_field() == 10
    assert reference.receptive_field("no_pooling") == 5
    assert reference.macs_per_image("lab") == 1_413_504
    assert reference.macs_per_image("dense") == 101_632


def test_students_variants_match_the_hand_worked_numbers():
    ada, chen = reference.student_spec(ADA), reference.student_spec(CHEN)
    assert [(s, p) for _, s, p in reference.expected_layers(ada)] == ADA_LAYERS
    assert reference.expected_total(ada) == ADA_TOTAL
    assert reference.receptive_field(ada) == 1 + 2 + 2 + 2 * 3 + 2 * 3  # 17
    assert [(s, p) for _, s, p in reference.expected_layers(chen)] == CHEN_LAYERS
    no_pooling = reference.without_pooling(chen)
    assert [(s, p) for _, s, p in reference.expected_layers(no_pooling)] == CHEN_NO_POOLING
    assert reference.values_per_image(chen) == (3_072, 37_632, 9_408, 800, 200)
    assert reference.dense_equivalent_params(chen) == 3_072 * 37_632 + 37_632
    assert reference.receptive_field(chen) == 1 + 4 + 1 + 4 * 2 + 1 * 2  # 16


def test_every_kind_of_variant_follows_the_rules_as_keras_builds_it():
    """The rules the grader uses against models Keras builds: every input shape with every
    kernel/pool combination a student can get, with and without pooling."""
    rng = random.Random(0)
    for input_shape in checks.VARIANT_INPUTS:
        for k1 in checks.VARIANT_KERNELS:
            for k2 in checks.VARIANT_KERNELS:
                for p in checks.VARIANT_POOLS:
                    spec = {"input_shape": input_shape, "layers": (
                        {"kind": "Conv2D", "filters": rng.choice(checks.VARIANT_FILTERS),
                         "kernel": (k1, k1), "activation": "relu"},
                        {"kind": "MaxPooling2D", "pool": (p, p)},
                        {"kind": "Conv2D", "filters": rng.choice(checks.VARIANT_FILTERS),
                         "kernel": (k2, k2), "activation": "relu"},
                        {"kind": "MaxPooling2D", "pool": (p, p)},
                        {"kind": "Flatten"},
                        {"kind": "Dense", "units": rng.choice(checks.VARIANT_UNITS),
                         "activation": "relu"},
                        {"kind": "Dense", "units": 10, "activation": "softmax"},
                    )}  # fmt: skip
                    for s in (spec, reference.without_pooling(spec)):
                        assert reference.expected_layers(s) == reference.keras_layers_of(s), s


def test_variants_differ_between_students_and_never_show_the_labs_receptive_field():
    ids = [f"student{i:03d}" for i in range(300)]
    variants = [checks.variant_for(i) for i in ids]
    keys = {repr(v) for v in variants}
    assert len(keys) >= 270  # 2,800 variants: a few of 300 students share one by chance
    assert all(reference.receptive_field(v) != reference.receptive_field("lab") for v in variants)
    assert checks.variant_for(" ada ") == checks.variant_for("ada")  # stray spaces
    with pytest.raises(checks.CheckFailed, match="STUDENT_ID: write your nbgrader student id"):
        checks.variant_for(...)


def test_show_variant_prints_sizes_not_answers(capsys, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    checks.show_variant(CHEN)
    out = capsys.readouterr().out
    assert "32x32x3" in out and "48 filters of 5x5" in out and "Dense: 24 units" in out
    for answer in ("28, 28", "3648", "3,648", "18330", "18,330", "(200,)"):
        assert answer not in out
    monkeypatch.setenv("JUPYTERHUB_USER", "chen2")
    checks.show_variant(CHEN)
    assert "signed in to JupyterHub as 'chen2'" in capsys.readouterr().out


def _ada(**answers):
    return {"STUDENT_ID": ADA, **answers}


@pytest.mark.parametrize(
    "answer",
    [
        ADA_LAYERS,
        [[list(shape), params] for shape, params in ADA_LAYERS],  # lists instead of tuples
        [((None, *shape), params) for shape, params in ADA_LAYERS],  # with the batch dimension
        [(tuple(np.int64(v) for v in shape), np.int32(p)) for shape, p in ADA_LAYERS],  # numpy
        [(shape, float(params)) for shape, params in ADA_LAYERS],  # 640.0
    ],
    ids=["tuples", "lists", "batch_dim", "numpy_ints", "whole_floats"],
)
def test_natural_formats_get_full_marks(answer):
    assert (
        hidden.grade("predict_output_shapes", _ada(predicted_layers=answer))
        == POINTS["predict_output_shapes"]
    )
    ns = _ada(predicted_layers=answer, predicted_total=ADA_TOTAL)
    assert hidden.grade("predict_param_counts", ns) == POINTS["predict_param_counts"]


def test_the_labs_numbers_from_summary_score_nothing_for_a_variant():
    """Part 5's summary() prints the lab's model: copied into Part 4 it is wrong for every
    student (their own model differs from the lab's in kernel or pooling size)."""
    ns = _ada(predicted_layers=LAB, predicted_total=113_386)
    # not even the flatten that follows from the copied pool2: its 32 channels are not ada's 24
    assert hidden.grade("predict_output_shapes", ns) == 0
    assert hidden.grade("predict_param_counts", ns) == 0


def test_partial_credit_item_by_item_with_error_carried_forward(capsys):
    """Rounding 7/3 up costs the pool2 shape only: the flatten that follows from the
    student's own (3, 3, 24) is accepted, and its message says so. (Six shapes are judged:
    the last layer's (10,) is given by the 10 classes.)"""
    answer = list(ADA_LAYERS)
    answer[3] = ((3, 3, 24), 0)  # rounds 7/3 up
    answer[4] = ((216,), 0)
    assert hidden.grade("predict_output_shapes", _ada(predicted_layers=answer)) == 2.5
    out = capsys.readouterr().out
    assert "5 of 6 correct -> 2.5 of 3 points" in out
    assert "pool2 (MaxPooling2D) output shape: expected (2, 2, 24), you predicted (3, 3, 24)" in out
    assert "flatten (Flatten) output shape: (216,) follows from pool2 shape (3, 3, 24)" in out
    # a flatten that follows from nothing the student wrote is still wrong, and says what would
    answer[4] = ((100,), 0)
    assert hidden.grade("predict_output_shapes", _ada(predicted_layers=answer)) == 2
    assert "expected (96,), you predicted (100,) ((216,) would follow from pool2 shape" in (
        capsys.readouterr().out
    )


def test_param_counts_carry_the_students_own_shapes_and_sum():
    answer = list(ADA_LAYERS)
    answer[0] = ((28, 28, 64), 576)  # forgot the biases
    ns = _ada(predicted_layers=answer, predicted_total=ADA_TOTAL - 64)  # their own sum
    assert hidden.grade("predict_param_counts", ns) == share(
        "predict_param_counts", 4, 5
    )  # 4 of 5: 4 weighted layers + total
    ns["predicted_total"] = 31_000  # neither the model's total nor their own sum
    assert hidden.grade("predict_param_counts", ns) == share("predict_param_counts", 3, 5)
    # a dense layer judged from the student's own flatten: (216 + 1) * 160
    answer = list(ADA_LAYERS)
    answer[3], answer[4], answer[5] = ((3, 3, 24), 0), ((216,), 0), ((160,), 34_720)
    ns = _ada(predicted_layers=answer, predicted_total=ADA_TOTAL)
    assert hidden.grade("predict_param_counts", ns) == POINTS["predict_param_counts"]


def test_following_the_rules_from_the_true_shapes_gives_the_keras_reference():
    for name in ("lab", "no_pooling", "filters_64", "dense"):
        shape = checks.LAB_INPUT_SHAPE
        for spec, (_, want_shape, want_params) in zip(
            reference.variant(name), reference.keras_layers(name), strict=True
        ):
            assert reference.follow(spec, shape) == (want_shape, want_params), (name, spec)
            shape = want_shape
    assert reference.follow({"kind": "Dense", "units": 4}, (5, 5, 32)) is None  # no rule


def test_no_pooling_variant_and_values_per_image():
    ns = {"STUDENT_ID": CHEN, "no_pooling_layers": CHEN_NO_POOLING, "no_pooling_total": 124_122}
    assert hidden.grade("predict_no_pooling_variant", ns) == POINTS["predict_no_pooling_variant"]
    values = [3_072, 37_632, 9_408, 800, 200]
    ns = {"STUDENT_ID": CHEN, "values_per_image": values, "fewer_values_than_pixels": "yes"}
    assert hidden.grade("predict_values_per_image", ns) == POINTS["predict_values_per_image"]
    ns["values_per_image"] = np.array(values)  # a numpy array is a list of numbers too
    assert hidden.grade("predict_values_per_image", ns) == POINTS["predict_values_per_image"]
    ns["values_per_image"] = (3_072, 3_072, 9_408, 800, 200)
    assert hidden.grade("predict_values_per_image", ns) == share("predict_values_per_image", 5, 6)
    # error carried forward: counts that follow from the student's own shapes, and the
    # yes/no judged from their own counts (a 6x6x8 pool2 holds 288, still fewer than 3,072)
    answer = list(CHEN_LAYERS)
    answer[3] = ((6, 6, 8), 0)
    ns = {"STUDENT_ID": CHEN, "values_per_image": [3_072, 37_632, 9_408, 800, 288],
          "fewer_values_than_pixels": "Yes", "predicted_layers": answer}  # fmt: skip
    assert hidden.grade("predict_values_per_image", ns) == POINTS["predict_values_per_image"]
    ns["fewer_values_than_pixels"] = "no"
    assert hidden.grade("predict_values_per_image", ns) == share("predict_values_per_image", 5, 6)


def test_a_copied_notebook_is_judged_on_the_grading_students_model(tmp_path):
    """Chen's correct answers handed in under ada's id: autograde judges them on ada's model
    (Validate, in the kernel, on the notebook's own id); the report names both ids."""
    ns = {"STUDENT_ID": CHEN, "predicted_layers": CHEN_LAYERS, "predicted_total": 18_330}
    payload = hidden.collect("predict_param_counts", ns, tmp_path)
    assert payload["declared_id"] == CHEN
    own, _ = hidden.judge("predict_param_counts", payload, tmp_path)
    assert own.points == POINTS["predict_param_counts"]
    copied, _ = hidden.judge("predict_param_counts", payload, tmp_path, student=ADA)
    assert copied.points == 0
    assert (
        "this notebook's STUDENT_ID is 'chen', another student's id, but it is graded as 'ada'"
        in copied.text()
    )
    # no STUDENT_ID at all: Validate says what to write; autograde judges the grading id's model
    del ns["STUDENT_ID"]
    ns.update(predicted_layers=ADA_LAYERS, predicted_total=ADA_TOTAL)
    payload = hidden.collect("predict_param_counts", ns, tmp_path)
    report, _ = hidden.judge("predict_param_counts", payload, tmp_path)
    assert "STUDENT_ID is not set" in report.text()
    assert (
        hidden.judge("predict_param_counts", payload, tmp_path, student=ADA)[0].points
        == POINTS["predict_param_counts"]
    )


@pytest.mark.parametrize("typed", ["ADA", " Ada ", "ａｄａ", "A\u0064a"])
def test_an_id_typed_in_another_case_or_width_is_the_same_student(typed, tmp_path):
    """A slip of form picks the same model and costs nothing, with no note."""
    assert checks.variant_for(typed) == checks.variant_for(ADA)
    assert checks.model_code(typed) == checks.model_code(ADA)
    ns = {"STUDENT_ID": typed, "predicted_layers": ADA_LAYERS, "predicted_total": ADA_TOTAL}
    payload = hidden.collect("predict_param_counts", ns, tmp_path)
    for student in (None, ADA, "Ada"):  # Validate; autograde (nbgrader's id in any case)
        report, _ = hidden.judge("predict_param_counts", payload, tmp_path, student=student)
        assert (
            report.points == POINTS["predict_param_counts"] and "STUDENT_ID is" not in report.text()
        ), student


def test_an_id_that_is_no_students_is_judged_on_the_model_it_showed(tmp_path):
    """STUDENT_ID = the student's full name: not another enrolled student's id, so the
    model the notebook showed them (and they predicted) counts; the report tells them."""
    name = "Ada Lovelace"
    answers = [(shape, params) for _, shape, params in reference.expected_layers(
        reference.student_spec(name))]  # fmt: skip
    total = reference.expected_total(reference.student_spec(name))
    ns = {"STUDENT_ID": name, "predicted_layers": answers, "predicted_total": total}
    payload = hidden.collect("predict_param_counts", ns, tmp_path)
    report, _ = hidden.judge("predict_param_counts", payload, tmp_path, student=ADA, model_id=name)
    assert report.points == POINTS["predict_param_counts"]
    assert "Part 4 was judged on the model 'Ada Lovelace' shows" in report.text()
    assert checks.model_code(name) in report.text()
    # the same notebook without that decision (a classmate's id): ada's own model, 0 points
    assert hidden.judge("predict_param_counts", payload, tmp_path, student=ADA)[0].points == 0


@pytest.mark.parametrize(
    "answer, words",
    [
        (
            {"conv1": ((26, 26, 32), 320)},
            "should be a list with one (output_shape, param_count) pair per layer",
        ),  # noqa: E501
        (LAB[:6], "should have 7 entries, one per layer, it has 6"),  # fmt: skip
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
        hidden.grade("predict_output_shapes", _ada(predicted_layers=answer))


def test_visible_check_reveals_no_value(capsys):
    wrong = [((1, 1, 1), 1)] * 7
    checks.check_layer_predictions(wrong, 5, name="predicted_layers")  # format is fine
    out = capsys.readouterr().out
    assert "format OK" in out and "113" not in out and "26" not in out


def _letter(student, name, right=True):
    """`student`'s letter for the right option of question `name`, or for a wrong one."""
    want = checks.CHOICES[name][reference.RIGHT_OPTION[name]]
    return next(k for k, o in checks.choices_for(student, name).items() if (o == want) == right)


def test_concept_questions_partial_credit():
    why = f" {_letter(ADA, 'why_five').upper()} "  # a slip of form: case and spaces
    ns = _ada(
        receptive_field=17, why_five=why, pooling_discards=_letter(ADA, "pooling_discards", False)
    )
    assert hidden.grade("concept_questions", ns) == 4.0
    ns["receptive_field"] = 10  # the lab's, measured after the question: not ada's model
    assert hidden.grade("concept_questions", ns) == 2.0
    ns["receptive_field"] = "ten"
    assert hidden.grade("concept_questions", ns) == 2.0


def test_weight_sharing_from_the_students_own_count(capsys):
    want = 3_072 * 37_632 + 37_632
    ns = {"STUDENT_ID": CHEN, "dense_equivalent_params": want}
    assert hidden.grade("weight_sharing", ns) == 4
    # conv1 predicted 29x29x48 in Part 4 (an off-by-one): 3,072 * 40,368 + 40,368 follows
    slipped = [((29, 29, 48), 3_648), *CHEN_LAYERS[1:]]
    ns.update(dense_equivalent_params=3_073 * 40_368, values_per_image=[3_072, 40_368, 1, 1, 1],
              predicted_layers=slipped)  # fmt: skip
    assert hidden.grade("weight_sharing", ns) == 4
    assert "error carried forward" in capsys.readouterr().out
    # a conv1 count that follows from no shape of theirs (or from another model's) carries none
    ns["predicted_layers"] = [((29, 29, 8), 3_648), *CHEN_LAYERS[1:]]
    assert hidden.grade("weight_sharing", ns) == 0
    ns["dense_equivalent_params"] = 3_072 * 37_632  # forgot the biases
    assert hidden.grade("weight_sharing", ns) == 0
    ns["dense_equivalent_params"] = 16_981_120  # the lab's model's number
    assert hidden.grade("weight_sharing", ns) == 0


def _probe_results(conv2=0.5, pool2=0.38, conv=(0.886, 0.76), dense=(0.861, 0.58)):
    """A shift probe as the notebook records it: relative changes at -2..2 px (not 0), test
    accuracies at -3..3 px; left and right alike except where a test sets them apart."""
    return {"conv2": {1: conv2, -1: conv2, 2: 0.8, -2: 0.8},
            "pool2": {1: pool2, -1: pool2, 2: 0.56, -2: 0.56},
            "conv accuracy": {0: conv[0], 1: 0.86, -1: 0.86, 2: conv[1], -2: conv[1],
                              3: 0.53, -3: 0.53},
            "dense accuracy": {0: dense[0], 1: 0.8, -1: 0.8, 2: dense[1], -2: dense[1],
                               3: 0.35, -3: 0.35}}  # fmt: skip


def test_shift_reading_is_judged_from_the_students_own_numbers(capsys):
    ns = {"steadier_stage": "pool2", "robust_model": "conv", "advantage_at_0px": "smaller",
          "shift_results": _probe_results()}  # fmt: skip
    assert hidden.grade("shift_reading", ns) == 6
    # a run where pool2 moved more than conv2 and dense kept more accuracy: the opposite answers
    ns["shift_results"] = _probe_results(conv2=0.3, pool2=0.4, conv=(0.88, 0.6), dense=(0.86, 0.7))
    assert hidden.grade("shift_reading", ns) == 0
    out = capsys.readouterr().out
    assert "steadier at 1 px: 'conv2' (your probe: conv2 0.300, pool2 0.400 at 1 px)" in out
    ns.update(steadier_stage="conv2", robust_model="DENSE", advantage_at_0px="larger")
    assert hidden.grade("shift_reading", ns) == 6
    # left and right are averaged: a right shift alone does not decide
    results = _probe_results()
    results["pool2"][1], results["pool2"][-1] = 0.30, 0.58  # mean 0.44 < conv2's 0.50
    ns.update(steadier_stage="pool2", robust_model="conv", advantage_at_0px="smaller")
    ns["shift_results"] = results
    assert hidden.grade("shift_reading", ns) == 6
    # a near-tie within the spread measured across machines: both answers
    results["pool2"][1] = results["pool2"][-1] = 0.5 - hidden.SHIFT_CHANGE_TIE / 2
    ns["steadier_stage"] = "conv2"
    assert hidden.grade("shift_reading", ns) == 6
    # no probe numbers (its cell failed because Part 5 trained nothing): no answer to read
    del ns["shift_results"]
    assert hidden.grade("shift_reading", ns) == 0
    assert "your notebook measured nothing to read" in capsys.readouterr().out


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
    ns["accuracy_gain_points"] = ...  # its answer cell failed for the same reason
    assert hidden.grade("conv_vs_dense", ns) == 2.0
    out = capsys.readouterr().out
    assert "accuracy gain: not graded, your notebook measured nothing to read" in out
    assert "Ellipsis" not in out and "Fix Part 3 first" in out
    ns.pop("conv_params")  # Part 5 never counted the conv model: no fallback to the lab's
    assert hidden.grade("conv_vs_dense", ns) == 0


def test_pooling_tradeoff_from_the_given_table_and_the_students_own_model():
    """Three readings of the given table; the two ratios are what pooling saves on ada's own
    Part 4 model (without pooling over with: 2,612,098 / 31,618 parameters, 12,394,048 /
    1,145,920 multiplications), or on her own Part 4 counts (error carried forward)."""
    table = checks.SEED_TABLE
    best = max(table, key=lambda m: table[m]["test_acc"])
    gap = max(table, key=lambda m: table[m]["train_acc"] - table[m]["test_acc"])
    kept = max(("conv", "no_pooling"), key=lambda m: table[m]["shift2_acc"])
    params, macs = 2_612_098 / ADA_TOTAL, 12_394_048 / 1_145_920  # 82.61, 10.82
    ns = _ada(highest_test_model=best, largest_gap_model=gap, params_ratio=82.6,
              macs_ratio=10.8, shift_kept_by=kept)  # fmt: skip
    assert hidden.grade("pooling_tradeoff", ns) == 8
    ns.update(params_ratio=params, macs_ratio=macs)  # unrounded is fine too
    assert hidden.grade("pooling_tradeoff", ns) == 8
    ns["params_ratio"] = 21  # the lab's ratio from the table, not her model's
    assert hidden.grade("pooling_tradeoff", ns) == 6.4
    ns.update(params_ratio=82.6, macs_ratio=10.7)  # truncated instead of rounded
    assert hidden.grade("pooling_tradeoff", ns) == 6.4
    ns.update(macs_ratio=10.8, shift_kept_by="no_pooling" if kept == "conv" else "conv")
    assert hidden.grade("pooling_tradeoff", ns) == 6.4
    # Her own (wrong) Part 4 totals and multiplications carry forward (12,394,048 / 1,284,160
    # = 9.65 where her model's is 10.8).
    ns.update(shift_kept_by=kept, predicted_total=30_000, no_pooling_total=2_612_098,
              multiplications=[451_584, 677_376, 153_600, 1_600], params_ratio=87.1,
              macs_ratio=9.7)  # fmt: skip
    assert hidden.grade("pooling_tradeoff", ns) == 8
    # Another model's counts (a classmate's notebook) give that model's ratios: not carried.
    other = reference.student_spec("bob")
    bare = reference.without_pooling(other)
    ns.update(predicted_total=reference.expected_total(other),
              no_pooling_total=reference.expected_total(bare),
              multiplications=list(reference.multiplications(other)),
              params_ratio=reference.expected_total(bare) / reference.expected_total(other),
              macs_ratio=reference.macs_per_image(bare) / reference.macs_per_image(other),
              )  # fmt: skip
    assert hidden.grade("pooling_tradeoff", ns) == 4.8


def test_conclusion():
    right = {n: _letter(ADA, n) for n in ("gain_source", "pooling_buys")}
    assert hidden.grade("conclusion", _ada(**right)) == 4
    wrong = {n: _letter(ADA, n, right=False) for n in right}
    assert hidden.grade("conclusion", _ada(**wrong)) == 0
    table = checks.SEED_TABLE  # the answer 'b' is what the given table shows
    assert table["no_pooling"]["test_acc"] > table["conv"]["test_acc"]  # not pooling
    for control in ("dense2", "dense_wide"):  # not depth, not compute
        assert (
            table[control]["test_acc"] + 2 * table[control]["test_sd"] < table["conv"]["test_acc"]
        )
    assert table["no_pooling"]["params"] > 10 * table["conv"]["params"]  # pooling buys size


def test_letters_are_the_students_own_and_a_classmates_right_letter_is_rarely_right():
    """Each id sees the four options once each, under four letters of its own; over 1,000
    pairs of ids, the right letter of one is the other's right letter for few of them."""
    rng = random.Random(7)
    same = 0
    for _ in range(1_000):
        a, b = (f"s{rng.randrange(10**9)}" for _ in range(2))
        for name, options in checks.CHOICES.items():
            shown = checks.choices_for(a, name)
            assert sorted(shown.values()) == sorted(options) and list(shown) == sorted(shown)
            same += _letter(a, name) == _letter(b, name)
    assert same / (1_000 * len(checks.CHOICES)) < 0.08  # 1/23 expected


def test_a_copied_letter_is_judged_on_the_students_own_options(capsys):
    """A classmate's right letter is wrong here, and the message names this student's
    letters, the right one and what was chosen."""
    other = next(f"s{i}" for i in range(100) if _letter(f"s{i}", "gain_source") not in
                 checks.choices_for(ADA, "gain_source"))  # fmt: skip
    ns = _ada(gain_source=_letter(other, "gain_source"), pooling_buys=_letter(ADA, "pooling_buys"))
    assert hidden.grade("conclusion", ns) == 2
    out = capsys.readouterr().out
    letters = ", ".join(checks.choices_for(ADA, "gain_source"))
    assert f"not one of your letters ({letters})" in out
    assert f"expected {_letter(ADA, 'gain_source')!r}, convolution" in out


def test_letter_check_accepts_exactly_the_students_letters():
    for letter in checks.choices_for(ADA, "why_five"):
        checks.check_letter(f" {letter.upper()}", ADA, "why_five")
    others = sorted(set(checks.CHOICE_LETTERS) - set(checks.choices_for(ADA, "why_five")))
    with pytest.raises(checks.AnswerFormatError, match="why_five: answer with one of"):
        checks.check_letter(others[0], ADA, "why_five")


def test_choice_check():
    checks.check_choice("b", ("a", "b"), "why_five")
    with pytest.raises(checks.AnswerFormatError, match="answer with one of 'a', 'b', got None"):
        checks.check_choice(None, ("a", "b"), "why_five")
    checks.check_numbers({"params_ratio": 21, "macs_ratio": 5.6}, "ratios")
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
    reference.keras_layers.cache_clear()
    hidden.grade("predict_output_shapes", _ada(predicted_layers=ADA_LAYERS))
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


def test_the_verifier_reads_the_recorded_readings_not_the_namespace(tmp_path):
    """An answer cell that redefines shift_results or an accuracy changes what the kernel
    collects, never what the verifier judges against: the provided cells' recorded readings
    (graders.registry.READINGS_CELLS; c1w3_checks.record_readings)."""
    real = {
        "conv2": {1: 0.50, -1: 0.50, 2: 0.79, -2: 0.79},
        "pool2": {1: 0.38, -1: 0.38, 2: 0.56, -2: 0.56},
        "conv accuracy": {0: 0.89, 2: 0.71, -2: 0.71},
        "dense accuracy": {0: 0.87, 2: 0.52, -2: 0.52},
    }
    fake = {
        "conv2": {1: 0.1, -1: 0.1, 2: 0.2, -2: 0.2},
        "pool2": {1: 0.5, -1: 0.5, 2: 0.6, -2: 0.6},
        "conv accuracy": {0: 0.9, 2: 0.5, -2: 0.5},
        "dense accuracy": {0: 0.8, 2: 0.75, -2: 0.75},
    }
    ns = {"steadier_stage": "conv2", "robust_model": "dense", "advantage_at_0px": "larger",
          "shift_results": fake}  # fmt: skip
    payload = hidden.collect("shift_reading", ns, tmp_path)
    assert hidden.judge("shift_reading", payload, tmp_path)[0].points == 6  # the kernel's view
    # what the provided cell recorded, through JSON as the verifier receives it
    recorded = json.loads(json.dumps({"shift_results": checks.reading_value(real)}))
    report, _ = hidden.judge("shift_reading", payload, tmp_path, readings=recorded)
    assert report.points == 0
    ns.update(steadier_stage="pool2", robust_model="conv", advantage_at_0px="smaller")
    payload = hidden.collect("shift_reading", ns, tmp_path)
    assert hidden.judge("shift_reading", payload, tmp_path, readings=recorded)[0].points == 6
    # nothing recorded (the provided cell failed): nothing to read, whatever the namespace has
    report, _ = hidden.judge("shift_reading", payload, tmp_path, readings={})
    assert report.points == 0
    # conv_vs_dense: a gain computed from a made-up accuracy is judged against the recorded run
    run = _run()
    ns = {"accuracy_gain_points": 12.4, "more_parameters": "conv", "biggest_gain_class": "Coat",
          **run, "conv_test_acc": 0.99}  # fmt: skip
    payload = hidden.collect("conv_vs_dense", ns, tmp_path)
    assert hidden.judge("conv_vs_dense", payload, tmp_path)[0].points == 6
    recorded = json.loads(json.dumps(checks.reading_value(run)))
    assert hidden.judge("conv_vs_dense", payload, tmp_path, readings=recorded)[0].points == 4


# What summary() does not print, worked out by hand for ada and chen (see their layers above):
# ada drops 28 % 3 = 1 and 7 % 3 = 1 rows; pool2's 2 rows come from 6 of conv2's, 8 of pool1's,
# 24 of conv1's and 26 input rows, so 30 * 30 - 26 * 26 = 224 pixels never reach pool2.
ADA_BEYOND = {
    "pool_rows_dropped": [1, 1],
    "input_rows_used": 26,
    "unseen_pixels": 224,
    "multiplications": [28 * 28 * 64 * 9, 7 * 7 * 24 * 9 * 64, 96 * 160, 160 * 10],
}
# chen's 32 rows all reach pool2: 5 -> 10 -> 14 -> 28 -> 32, nothing dropped, nothing unseen.
CHEN_BEYOND = {
    "pool_rows_dropped": [0, 0],
    "input_rows_used": 32,
    "unseen_pixels": 0,
    "multiplications": [28 * 28 * 48 * 25 * 3, 10 * 10 * 8 * 25 * 48, 200 * 24, 24 * 10],
}


def test_what_summary_does_not_print_follows_the_rules():
    assert reference.rows_dropped() == (0, 1)  # 26 halves exactly; 11 // 2 drops a row
    assert (reference.input_rows_used(), reference.unseen_pixels()) == (26, 108)
    assert reference.multiplications() == (194_688, 1_115_136, 102_400, 1_280)
    assert reference.macs_per_image() == 1_413_504
    for student, want in ((ADA, ADA_BEYOND), (CHEN, CHEN_BEYOND)):
        spec = reference.student_spec(student)
        got = {
            "pool_rows_dropped": list(reference.rows_dropped(spec)),
            "input_rows_used": reference.input_rows_used(spec),
            "unseen_pixels": reference.unseen_pixels(spec),
            "multiplications": list(reference.multiplications(spec)),
        }
        assert got == want, student


@pytest.mark.parametrize("student", ["lab", ADA, CHEN, "ab123", "zoe"])
def test_the_input_rows_pool2_uses_are_the_ones_keras_depends_on(student):
    """The pixels a pool2 value depends on, found by Keras: with all-ones kernels and average
    pooling (max pooling's windows, but a gradient through every input of each window), the
    gradient of pool2's sum is non-zero exactly on those pixels."""
    import keras
    import tensorflow as tf

    spec = reference.model_spec() if student == "lab" else reference.student_spec(student)
    layers = [keras.Input(shape=spec["input_shape"])]
    for d in spec["layers"][:4]:
        if d["kind"] == "Conv2D":
            layers.append(keras.layers.Conv2D(1, d["kernel"], kernel_initializer="ones"))
        else:
            layers.append(keras.layers.AveragePooling2D(d["pool"]))
    model = keras.Sequential(layers)
    image = tf.ones((1, *spec["input_shape"]))
    with tf.GradientTape() as tape:
        tape.watch(image)
        total = tf.reduce_sum(model(image))
    reached = np.any(tape.gradient(total, image).numpy()[0] != 0, axis=-1)
    assert int(reached.sum()) == reference.input_rows_used(spec) ** 2
    assert int((~reached).sum()) == reference.unseen_pixels(spec)


def _beyond(student=ADA, **answers):
    return {"STUDENT_ID": student, **ADA_BEYOND, "predicted_layers": ADA_LAYERS, **answers}


def test_beyond_summary_full_marks_and_natural_formats():
    full = POINTS["predict_beyond_summary"]
    assert hidden.grade("predict_beyond_summary", _beyond()) == full
    ns = {"STUDENT_ID": CHEN, **CHEN_BEYOND}  # predicted_layers not needed when right
    assert hidden.grade("predict_beyond_summary", ns) == full
    numpy_answers = {k: np.array(v) if isinstance(v, list) else np.int64(v)
                     for k, v in ADA_BEYOND.items()}  # fmt: skip
    assert hidden.grade("predict_beyond_summary", _beyond(**numpy_answers)) == full
    assert hidden.grade("predict_beyond_summary", _beyond(STUDENT_ID="ADA ")) == full


def test_beyond_summary_carries_the_students_own_shapes_forward(capsys):
    """ada rounds 7/3 up (a 3x3 pool2): her rows (3*3+2)*3+2 = 35 follow from it, and, with
    more rows than her 30, no unseen pixels; her dense1 from her own flatten of 216: one shape
    slip, no further loss here."""
    answer = list(ADA_LAYERS)
    answer[3], answer[4] = ((3, 3, 24), 0), ((216,), 0)
    ns = _beyond(predicted_layers=answer, input_rows_used=35, unseen_pixels=0,
                 multiplications=[451_584, 677_376, 216 * 160, 1_600])  # fmt: skip
    assert hidden.grade("predict_beyond_summary", ns) == POINTS["predict_beyond_summary"]
    out = capsys.readouterr().out
    assert "input rows that reach pool2: 35 follows from your predicted shapes" in out
    assert "dense1 multiplications: 34,560 follows from your predicted shapes" in out


def test_beyond_summary_partial_credit_names_each_wrong_value(capsys):
    ns = _beyond(pool_rows_dropped=[0, 0], multiplications=[451_584, 677_376, 15_360, 1_610])
    assert hidden.grade("predict_beyond_summary", ns) == share("predict_beyond_summary", 5, 8)
    out = capsys.readouterr().out
    assert "rows pool1 drops: expected 1, you predicted 0" in out
    assert "dense2 multiplications: expected 1,600, you predicted 1,610" in out
    # the lab's numbers (the notebook's own example) are wrong for ada's model
    lab = {"pool_rows_dropped": [0, 1], "input_rows_used": 26, "unseen_pixels": 108,
           "multiplications": [194_688, 1_115_136, 102_400, 1_280]}  # fmt: skip
    assert hidden.grade("predict_beyond_summary", _beyond(**lab)) == share(
        "predict_beyond_summary", 2, 8
    )  # ada's model also reads 26 input rows, and 1 row from pool2 (11 % 2 and 7 % 3)


def test_beyond_summary_format_errors_are_messages():
    with pytest.raises(checks.CheckFailed, match="multiplications: expected a list of 4"):
        hidden.grade("predict_beyond_summary", _beyond(multiplications=[1, 2, 3]))
    with pytest.raises(checks.CheckFailed, match="unseen_pixels: write a whole number"):
        hidden.grade("predict_beyond_summary", _beyond(unseen_pixels=...))
