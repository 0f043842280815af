"""What the hidden test cells call during ``nbgrader autograde``, one function per grade id.

Each function prints a per-item report. All-or-nothing checks raise CheckFailed on any
failure (nbgrader: 0 points); partial-credit checks return the points earned, which the
hidden cell leaves as its last expression. Messages say what was expected and what was
found; no hidden test source reaches the output (CheckFailed renders its message only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graders import accuracy, public_checks, reference
from graders.report import Report, fail

LAB_LAYER_NAMES = ("conv1", "pool1", "conv2", "pool2", "flatten", "dense128", "dense10")
POINTS = {
    "conv_model_architecture": 15,
    "conv_model_compiled": 5,
    "predict_output_shapes": 10,
    "predict_param_counts": 10,
    "predict_values_per_image": 5,
    "predict_no_pooling_variant": 10,
    "conv_test_accuracy": 15,
    "feature_extractor": 5,
    "shift_probe": 5,
    "concept_questions": 10,
}
GRADING_DIR = Path("_grading")  # beside the autograded notebook


def _checks():
    return public_checks()


def _read_or_fail(grade_id, read, *args):
    try:
        return read(*args)
    except _checks().AnswerFormatError as exc:
        fail(grade_id, str(exc))


def grade_conv_model_architecture(build_fn) -> None:
    model = _checks().build_quietly(build_fn)
    report = Report("conv_model_architecture", POINTS["conv_model_architecture"])
    problems = _checks().architecture_problems(model)
    report.item(not problems, problems[0] if problems else "the lab's 7 layers, input 28x28x1")
    report.all_or_nothing()


def grade_conv_model_compiled(build_fn) -> None:
    model = _checks().build_quietly(build_fn)
    report = Report("conv_model_compiled", POINTS["conv_model_compiled"])
    problems = _checks().compile_problems(model)
    for problem in problems:
        report.item(False, problem)
    if not problems:
        report.item(True, "adam, sparse_categorical_crossentropy, accuracy")
    report.all_or_nothing()


def _grade_layers(grade_id, predictions, variant, want_shapes, want_params, total=None):
    expected = reference.expected_layers(variant)
    rows = _read_or_fail(
        grade_id, _checks().read_layer_predictions, predictions, len(expected), grade_id
    )
    report = Report(grade_id, POINTS[grade_id])
    for name, (kind, shape, params), (got_shape, got_params) in zip(
        LAB_LAYER_NAMES if variant == "lab" else [f"layer {i}" for i in range(1, 8)],
        expected,
        rows,
        strict=False,
    ):
        if want_shapes:
            report.item(
                got_shape == shape,
                f"{name} ({kind}) output shape: expected {shape}, you predicted {got_shape}",
            )
        if want_params:
            report.item(
                got_params == params,
                f"{name} ({kind}) parameters: expected {params:,}, you predicted {got_params:,}",
            )
    if total is not None:
        got_total = _read_or_fail(grade_id, _checks().normalize_count, total, "total")
        want_total = reference.expected_total(variant)
        report.item(
            got_total == want_total,
            f"total parameters: expected {want_total:,}, you predicted {got_total:,}",
        )
    return report.partial()


def grade_predict_output_shapes(predictions) -> float:
    return _grade_layers("predict_output_shapes", predictions, "lab", True, False)


def grade_predict_param_counts(predictions, total) -> float:
    return _grade_layers("predict_param_counts", predictions, "lab", False, True, total)


def grade_predict_no_pooling_variant(predictions, total) -> float:
    return _grade_layers("predict_no_pooling_variant", predictions, "no_pooling", True, True, total)


def grade_predict_values_per_image(values) -> float:
    grade_id = "predict_values_per_image"
    want = reference.values_per_image("lab")
    if not isinstance(values, (list, tuple)) or len(values) != len(want):
        fail(grade_id, f"expected a list of {len(want)} whole numbers, got {values!r}")
    report = Report(grade_id, POINTS[grade_id])
    stages = ("input", "after conv1", "after pool1", "after conv2", "after pool2")
    for stage, expected, got in zip(stages, want, values, strict=True):
        got = _read_or_fail(grade_id, _checks().normalize_count, got, stage)
        report.item(got == expected, f"{stage}: expected {expected:,}, you wrote {got:,}")
    return report.partial()


def grade_conv_test_accuracy(model) -> None:
    grade_id = "conv_test_accuracy"
    if model is None or not hasattr(model, "save"):
        fail(grade_id, f"expected the trained conv_model, found {type(model).__name__}")
    try:
        path = accuracy.save_model(model, GRADING_DIR)
    except Exception as exc:
        fail(grade_id, f"the trained model could not be saved ({type(exc).__name__}: {exc})")
    result = accuracy.evaluate_saved_model(path)
    passed, message = accuracy.judge(result)
    report = Report(grade_id, POINTS[grade_id])
    report.item(passed, message)
    report.all_or_nothing()


def _probe_images(n: int = 4, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1), dtype=np.float32)


def grade_feature_extractor(stage_outputs_fn) -> None:
    """stage_outputs(model, images) must return conv1, pool1, conv2, pool2 activations."""
    grade_id = "feature_extractor"
    import keras

    model = reference.build(reference.variant("lab"), seed=3)
    images = _probe_images()
    try:
        with _checks().quiet(), _checks().preserve_rng():
            got = stage_outputs_fn(model, images)
    except Exception as exc:
        fail(grade_id, f"stage_outputs(model, images) raised {type(exc).__name__}: {exc}")
    with _checks().quiet(), _checks().preserve_rng():
        probe = keras.Model(model.inputs, [layer.output for layer in model.layers[:4]])
        want = probe.predict(images, verbose=0)
    report = Report(grade_id, POINTS[grade_id])
    if not isinstance(got, (list, tuple)) or len(got) != 4:
        fail(grade_id, f"expected a list of 4 arrays (conv1, pool1, conv2, pool2), got {got!r:.80}")
    for name, w, g in zip(LAB_LAYER_NAMES[:4], want, got, strict=True):
        g = np.asarray(g)
        if g.shape != w.shape:
            report.item(False, f"{name}: expected an array of shape {w.shape}, got {g.shape}")
        else:
            report.item(
                bool(np.allclose(g, w, atol=1e-4)), f"{name}: activations of shape {w.shape}"
            )
    report.all_or_nothing()


def grade_shift_probe(relative_change_fn) -> None:
    """relative_change(before, after): mean over images of ||after - before|| / ||before||."""
    grade_id = "shift_probe"
    rng = np.random.default_rng(11)
    before = rng.random((5, 6, 6, 3)).astype("float32") + 0.1
    after = before + rng.normal(0, 0.3, before.shape).astype("float32")
    flat_b, flat_a = before.reshape(5, -1), after.reshape(5, -1)
    want = float(np.mean(np.linalg.norm(flat_a - flat_b, axis=1) / np.linalg.norm(flat_b, axis=1)))
    try:
        with _checks().quiet(), _checks().preserve_rng():
            got = float(relative_change_fn(before, after))
    except Exception as exc:
        fail(grade_id, f"relative_change(before, after) raised {type(exc).__name__}: {exc}")
    report = Report(grade_id, POINTS[grade_id])
    report.item(
        abs(got - want) <= 1e-4 * max(1.0, abs(want)),
        f"relative_change on a test batch: expected {want:.4f}, got {got:.4f}",
    )
    report.all_or_nothing()


def grade_concept_questions(dense_equivalent, receptive, shift_answer, pooling_answer) -> float:
    grade_id = "concept_questions"
    report = Report(grade_id, POINTS[grade_id])

    def number(value, label):
        try:
            return _checks().normalize_count(value, label)
        except _checks().AnswerFormatError as exc:
            report.item(False, str(exc))
            return None

    def choice(value):
        return value.strip().lower() if isinstance(value, str) else value

    want = reference.dense_equivalent_params()
    got = number(dense_equivalent, "dense_equivalent_params")
    if got is not None:
        report.item(got == want, f"weight sharing: expected {want:,} weights, you wrote {got:,}")
    want = reference.receptive_field()
    got = number(receptive, "receptive_field")
    if got is not None:
        report.item(got == want, f"receptive field: expected {want}x{want}, you wrote {got}")
    report.item(
        choice(shift_answer) == "b",
        f"translation tolerance: expected 'b' (pooled features), you chose {shift_answer!r}",
    )
    report.item(
        choice(pooling_answer) == "c",
        f"what pooling loses: expected 'c' (exact position within each 2x2 window), "
        f"you chose {pooling_answer!r}",
    )
    return report.partial()


# grade id -> (check, the names it reads from the notebook's namespace)
CHECKS = {
    "conv_model_architecture": (grade_conv_model_architecture, ("build_conv_model",)),
    "conv_model_compiled": (grade_conv_model_compiled, ("build_conv_model",)),
    "predict_output_shapes": (grade_predict_output_shapes, ("predicted_layers",)),
    "predict_param_counts": (grade_predict_param_counts, ("predicted_layers", "predicted_total")),
    "predict_values_per_image": (grade_predict_values_per_image, ("values_per_image",)),
    "predict_no_pooling_variant": (
        grade_predict_no_pooling_variant,
        ("no_pooling_layers", "no_pooling_total"),
    ),
    "conv_test_accuracy": (grade_conv_test_accuracy, ("conv_model",)),
    "feature_extractor": (grade_feature_extractor, ("stage_outputs",)),
    "shift_probe": (grade_shift_probe, ("relative_change",)),
    "concept_questions": (
        grade_concept_questions,
        ("dense_equivalent_params", "receptive_field", "shift_answer", "pooling_answer"),
    ),
}


def grade(grade_id: str, namespace: dict):
    """The one call in every hidden test cell: ``grade("<grade id>", globals())``.

    A name the notebook never defined (its cell failed, was deleted or never ran) becomes
    a message, not a NameError whose traceback would quote the hidden cell.
    """
    check, names = CHECKS[grade_id]
    missing = [name for name in names if name not in namespace]
    if missing:
        fail(
            grade_id,
            f"{missing[0]} is not defined: the cell that defines it did not run to the end "
            "(look for its error above)",
        )
    return check(*(namespace[name] for name in names))
