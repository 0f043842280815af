"""What the hidden test cells call, one collect and one judge function per grade id.

A hidden cell calls ``grade("<grade id>", globals())``: *collect* runs the student's code or
reads their answers inside the kernel and saves the result as an artifact
(:mod:`graders.artifacts`); *judge* turns an artifact into a Report. During autograde the
judging that decides points happens again in :mod:`graders.verify`, in a fresh interpreter
outside the kernel, and nbgrader records that verdict (course.nbgrader_plugins).

All-or-nothing reports raise CheckFailed on any failure (nbgrader: 0 points); partial-credit
reports return the points, which the hidden cell leaves as its last expression. Messages say
what was expected and what was found, never the hidden test source.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from graders import accuracy, artifacts, public_checks, reference
from graders.artifacts import GRADING_DIR
from graders.report import Report

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


def _checks():
    return public_checks()


Judged = tuple[Report, bool]  # (the report, all-or-nothing?): Report.verdict() makes it a Verdict


def _failed(grade_id: str, message: str) -> Judged:
    report = Report(grade_id, POINTS[grade_id])
    report.item(False, message)
    return report, True


# -- collect: runs in the student's kernel, returns plain data (files go to `directory`) -----


def _collect_model(grade_id, directory, build_fn) -> dict:
    try:
        model = _checks().build_quietly(build_fn)
    except _checks().CheckFailed as exc:
        return {"error": str(exc)}
    try:
        accuracy.save_model(model, directory, f"{grade_id}.keras")
    except Exception as exc:
        return {"error": f"the model could not be saved ({type(exc).__name__}: {exc})"}
    return {"model": f"{grade_id}.keras"}


def _collect_answers(grade_id, directory, *values) -> dict:
    return {"answers": [artifacts.plain(v) for v in values]}


def _collect_trained_model(grade_id, directory, model) -> dict:
    if model is None or not hasattr(model, "save"):
        return {"error": f"expected the trained conv_model, found {type(model).__name__}"}
    try:
        accuracy.save_model(model, directory)
    except Exception as exc:
        return {"error": f"the trained model could not be saved ({type(exc).__name__}: {exc})"}
    return {"model": "conv_model.keras"}


def _probe_images(n: int = 4, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1), dtype=np.float32)


def _probe_model():
    return reference.build(reference.variant("lab"), seed=3)


def _collect_stage_outputs(grade_id, directory, stage_outputs_fn) -> dict:
    """stage_outputs(model, images) must return conv1, pool1, conv2, pool2 activations."""
    try:
        with _checks().quiet(), _checks().preserve_rng():
            got = stage_outputs_fn(_probe_model(), _probe_images())
    except Exception as exc:
        return {"error": f"stage_outputs(model, images) raised {type(exc).__name__}: {exc}"}
    if not isinstance(got, (list, tuple)) or len(got) != 4:
        got = f"{got!r:.80}"
        return {"error": f"expected a list of 4 arrays (conv1, pool1, conv2, pool2), got {got}"}
    try:
        arrays = {f"stage{i}": np.asarray(g, dtype=np.float32) for i, g in enumerate(got)}
    except Exception as exc:
        return {"error": f"stage_outputs returned something that is not 4 arrays ({exc})"}
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / f"{grade_id}.npz", **arrays)
    return {"arrays": f"{grade_id}.npz"}


def _shift_batches():
    rng = np.random.default_rng(11)
    before = rng.random((5, 6, 6, 3)).astype("float32") + 0.1
    after = before + rng.normal(0, 0.3, before.shape).astype("float32")
    return before, after


def _collect_relative_change(grade_id, directory, relative_change_fn) -> dict:
    """relative_change(before, after): mean over images of ||after - before|| / ||before||."""
    try:
        with _checks().quiet(), _checks().preserve_rng():
            got = float(relative_change_fn(*_shift_batches()))
    except Exception as exc:
        return {"error": f"relative_change(before, after) raised {type(exc).__name__}: {exc}"}
    return {"value": got}


# -- judge: pure functions of the collected data; run in the kernel and in graders.verify ----


def _load(directory, payload, key="model"):
    import keras

    path = artifacts.file_in(directory, payload.get(key))
    if path is None:
        raise _checks().CheckFailed("the grader found no saved model")
    with _checks().quiet():
        return keras.saving.load_model(path, safe_mode=True)


def judge_conv_model_architecture(payload, directory) -> Judged:
    report = Report("conv_model_architecture", POINTS["conv_model_architecture"])
    problems = _checks().architecture_problems(_load(directory, payload))
    report.item(not problems, problems[0] if problems else "the lab's 7 layers, input 28x28x1")
    return report, True


def judge_conv_model_compiled(payload, directory) -> Judged:
    report = Report("conv_model_compiled", POINTS["conv_model_compiled"])
    problems = _checks().compile_problems(_load(directory, payload))
    for problem in problems:
        report.item(False, problem)
    if not problems:
        report.item(True, "adam, sparse_categorical_crossentropy, accuracy")
    return report, True


def _judge_layers(grade_id, predictions, variant, want_shapes, want_params, total=None):
    expected = reference.expected_layers(variant)
    try:
        rows = _checks().read_layer_predictions(predictions, len(expected), grade_id)
    except _checks().AnswerFormatError as exc:
        return _failed(grade_id, str(exc))
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
        try:
            got_total = _checks().normalize_count(total, "total")
        except _checks().AnswerFormatError as exc:
            return _failed(grade_id, str(exc))
        want_total = reference.expected_total(variant)
        report.item(
            got_total == want_total,
            f"total parameters: expected {want_total:,}, you predicted {got_total:,}",
        )
    return report, False


def judge_predict_output_shapes(payload, directory) -> Judged:
    (predictions,) = _answers(payload, 1)
    return _judge_layers("predict_output_shapes", predictions, "lab", True, False)


def judge_predict_param_counts(payload, directory) -> Judged:
    predictions, total = _answers(payload, 2)
    return _judge_layers("predict_param_counts", predictions, "lab", False, True, total)


def judge_predict_no_pooling_variant(payload, directory) -> Judged:
    predictions, total = _answers(payload, 2)
    return _judge_layers("predict_no_pooling_variant", predictions, "no_pooling", True, True, total)


def judge_predict_values_per_image(payload, directory) -> Judged:
    grade_id = "predict_values_per_image"
    (values,) = _answers(payload, 1)
    want = reference.values_per_image("lab")
    if not isinstance(values, (list, tuple)) or len(values) != len(want):
        return _failed(grade_id, f"expected a list of {len(want)} whole numbers, got {values!r}")
    report = Report(grade_id, POINTS[grade_id])
    stages = ("input", "after conv1", "after pool1", "after conv2", "after pool2")
    for stage, expected, got in zip(stages, want, values, strict=True):
        try:
            got = _checks().normalize_count(got, stage)
        except _checks().AnswerFormatError as exc:
            return _failed(grade_id, str(exc))
        report.item(got == expected, f"{stage}: expected {expected:,}, you wrote {got:,}")
    return report, False


def judge_conv_test_accuracy(payload, directory, in_process: bool = False) -> Judged:
    """Evaluated by graders.evaluate_model in a fresh interpreter, never in the kernel:
    `in_process` when this one is it (graders.verify), else in a child process."""
    path = artifacts.file_in(directory, payload.get("model"))
    if path is None:
        return _failed("conv_test_accuracy", "the grader found no saved model")
    passed, message = accuracy.judge(accuracy.evaluate_saved_model(path, in_process=in_process))
    report = Report("conv_test_accuracy", POINTS["conv_test_accuracy"])
    report.item(passed, message)
    return report, True


def judge_feature_extractor(payload, directory) -> Judged:
    grade_id = "feature_extractor"
    import keras

    path = artifacts.file_in(directory, payload.get("arrays"))
    if path is None:
        return _failed(grade_id, "the grader found no saved activations")
    with np.load(path, allow_pickle=False) as saved:
        got = [saved[f"stage{i}"] for i in range(4)]
    model = _probe_model()
    with _checks().quiet(), _checks().preserve_rng():
        probe = keras.Model(model.inputs, [layer.output for layer in model.layers[:4]])
        want = probe.predict(_probe_images(), verbose=0)
    report = Report(grade_id, POINTS[grade_id])
    for name, w, g in zip(LAB_LAYER_NAMES[:4], want, got, strict=True):
        if g.shape != w.shape:
            report.item(False, f"{name}: expected an array of shape {w.shape}, got {g.shape}")
        else:
            report.item(
                bool(np.allclose(g, w, atol=1e-4)), f"{name}: activations of shape {w.shape}"
            )
    return report, True


def judge_shift_probe(payload, directory) -> Judged:
    before, after = _shift_batches()
    flat_b, flat_a = before.reshape(5, -1), after.reshape(5, -1)
    want = float(np.mean(np.linalg.norm(flat_a - flat_b, axis=1) / np.linalg.norm(flat_b, axis=1)))
    got = payload.get("value")
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return _failed("shift_probe", f"relative_change returned {got!r}, not a number")
    report = Report("shift_probe", POINTS["shift_probe"])
    report.item(
        abs(got - want) <= 1e-4 * max(1.0, abs(want)),
        f"relative_change on a test batch: expected {want:.4f}, got {got:.4f}",
    )
    return report, True


def judge_concept_questions(payload, directory) -> Judged:
    dense_equivalent, receptive, shift_answer, pooling_answer = _answers(payload, 4)
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
    return report, False


def _answers(payload, n):
    answers = payload.get("answers")
    if not isinstance(answers, list) or len(answers) != n:
        raise _checks().CheckFailed("the grader found no saved answers")
    return [artifacts.unplain(a) for a in answers]


# grade id -> (collect, judge, the names it reads from the notebook's namespace)
CHECKS = {
    "conv_model_architecture": (
        _collect_model,
        judge_conv_model_architecture,
        ("build_conv_model",),
    ),
    "conv_model_compiled": (_collect_model, judge_conv_model_compiled, ("build_conv_model",)),
    "predict_output_shapes": (
        _collect_answers,
        judge_predict_output_shapes,
        ("predicted_layers",),
    ),
    "predict_param_counts": (
        _collect_answers,
        judge_predict_param_counts,
        ("predicted_layers", "predicted_total"),
    ),
    "predict_values_per_image": (
        _collect_answers,
        judge_predict_values_per_image,
        ("values_per_image",),
    ),
    "predict_no_pooling_variant": (
        _collect_answers,
        judge_predict_no_pooling_variant,
        ("no_pooling_layers", "no_pooling_total"),
    ),
    "conv_test_accuracy": (_collect_trained_model, judge_conv_test_accuracy, ("conv_model",)),
    "feature_extractor": (_collect_stage_outputs, judge_feature_extractor, ("stage_outputs",)),
    "shift_probe": (_collect_relative_change, judge_shift_probe, ("relative_change",)),
    "concept_questions": (
        _collect_answers,
        judge_concept_questions,
        ("dense_equivalent_params", "receptive_field", "shift_answer", "pooling_answer"),
    ),
}
# Judged only outside the kernel while autograding (a TensorFlow start and 70,000 images).
DEFERRED_IN_AUTOGRADE = {"conv_test_accuracy"}


def collect(grade_id: str, namespace: dict, directory: Path = GRADING_DIR) -> dict:
    """Run the student's side of one check and save the result as an artifact."""
    collect_fn, _, names = CHECKS[grade_id]
    missing = [name for name in names if name not in namespace]
    if missing:
        payload = {
            "error": f"{missing[0]} is not defined: the cell that defines it did not run to "
            "the end (look for its error above)"
        }
    else:
        try:
            payload = collect_fn(grade_id, directory, *(namespace[name] for name in names))
        except Exception as exc:  # a student's object can raise from anywhere
            payload = {"error": f"{type(exc).__name__}: {exc}"}
    artifacts.write(grade_id, payload, directory)
    return payload


def judge(
    grade_id: str, payload: dict | None, directory: Path, *, in_process: bool = False
) -> Judged:
    """The verdict on a saved artifact; every failure is a report, never an exception.

    `in_process`: this interpreter is a fresh, isolated one (graders.verify), so a saved
    model is evaluated here instead of in a child process.
    """
    if payload is None:
        return _failed(grade_id, "the grader's part of this cell did not run")
    if payload.get("error"):
        return _failed(grade_id, str(payload["error"]))
    # Only the deferred checks evaluate a model; the others take (payload, directory).
    options = {"in_process": in_process} if grade_id in DEFERRED_IN_AUTOGRADE else {}
    try:
        return CHECKS[grade_id][1](payload, directory, **options)
    except _checks().CheckFailed as exc:
        return _failed(grade_id, str(exc))
    except Exception as exc:
        return _failed(grade_id, f"the saved answer could not be judged ({type(exc).__name__})")


def grade(grade_id: str, namespace: dict, directory: Path | None = None):
    """The one call in every hidden test cell: ``grade("<grade id>", globals())``.

    Collects and saves the artifact, then judges it here too so that `nbgrader validate`
    and the student-facing messages work; during autograde the verdict that counts comes
    from graders.verify, outside this kernel. A name the notebook never defined becomes a
    message, not a NameError whose traceback would quote the hidden cell.
    """
    directory = GRADING_DIR if directory is None else Path(directory)
    # Saving and loading models draws from Python's `random`: the kernel's state is restored.
    with _checks().preserve_rng():
        payload = collect(grade_id, namespace, directory)
        if (
            grade_id in DEFERRED_IN_AUTOGRADE
            and os.environ.get("NBGRADER_EXECUTION") == "autograde"
        ):
            print(f"{grade_id}: saved; the grader measures it outside your notebook")
            return None
        report, all_or_nothing = judge(grade_id, payload, directory)
    # While autograding, the verifier's report replaces this cell's output: print nothing twice.
    show = os.environ.get("NBGRADER_EXECUTION") != "autograde"
    if all_or_nothing:
        return report.all_or_nothing(show)
    return report.partial(show)
