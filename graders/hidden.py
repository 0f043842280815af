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

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graders import accuracy, artifacts, public_checks, reference, registry
from graders.artifacts import GRADING_DIR
from graders.registry import DEFERRED_IN_AUTOGRADE, POINTS, VARIANT_GRADE_IDS
from graders.report import Report

LAB_LAYER_NAMES = ("conv1", "pool1", "conv2", "pool2", "flatten", "dense1", "dense2")


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
    subclassed = _checks().subclass_problem(model)
    if subclassed:
        return {"error": subclassed}
    try:
        artifacts.save_model(model, directory, f"{grade_id}.keras")
    except Exception as exc:
        return {"error": f"the model could not be saved ({type(exc).__name__}: {exc})"}
    return {"model": f"{grade_id}.keras"}


def _collect_answers(grade_id, directory, *values) -> dict:
    return {"answers": [artifacts.plain(v) for v in values]}


def _collect_trained_model(grade_id, directory, model) -> dict:
    if model is None or not hasattr(model, "save"):
        return {"error": f"expected the trained conv_model, found {type(model).__name__}"}
    try:
        artifacts.save_model(model, directory)
    except Exception as exc:
        return {"error": f"the trained model could not be saved ({type(exc).__name__}: {exc})"}
    return {"model": "conv_model.keras"}


# The inputs the two checks on code call the student's function on: drawn from seeds of each
# student's own (the id Part 4 is judged on), so no two students' expected outputs are the
# same; a notebook without an id gets the default seeds. The seed is saved in the artifact:
# the function is judged on the inputs it was called on, whichever id it ran under.
PROBE_SEED, SHIFT_SEED = 7, 11


def _own_seed(kind: str, student_id) -> int | None:
    """A seed for `kind` inputs from the notebook's STUDENT_ID (None: not set). The notebook
    has already resolved an id left as `...` (c1w3_checks.signed_in_id) where one is known."""
    import hashlib

    if not (isinstance(student_id, str) and student_id.strip()):
        return None
    canonical = _checks().canonical_id(student_id)
    return int.from_bytes(hashlib.sha256(f"c1w3-{kind}:{canonical}".encode()).digest()[:4], "big")


def probe_seed(student_id) -> int:
    """The seed of the images feature_extractor calls stage_outputs on for this student."""
    return _own_seed("probe", student_id) or PROBE_SEED


def shift_seed(student_id) -> int:
    """The seed of the batches shift_probe calls relative_change on for this student."""
    return _own_seed("shift", student_id) or SHIFT_SEED


def _saved_seed(payload, default: int) -> int:
    seed = payload.get("seed", default)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise _checks().CheckFailed("the grader found no valid input seed in the saved answer")
    return seed


def _probe_images(n: int = 4, seed: int = PROBE_SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1), dtype=np.float32)


def _probe_model():
    return reference.build(reference.variant("lab"), seed=3)


def _collect_stage_outputs(grade_id, directory, stage_outputs_fn, student_id=None) -> dict:
    """stage_outputs(model, images) must return conv1, pool1, conv2, pool2 activations."""
    seed = probe_seed(student_id)
    try:
        with _checks().quiet(), _checks().preserve_rng():
            got = stage_outputs_fn(_probe_model(), _probe_images(seed=seed))
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
    return {"arrays": f"{grade_id}.npz", "seed": seed}


def _shift_batches(seed: int = SHIFT_SEED):
    rng = np.random.default_rng(seed)
    before = rng.random((5, 6, 6, 3)).astype("float32") + 0.1
    after = before + rng.normal(0, 0.3, before.shape).astype("float32")
    return before, after


def _collect_relative_change(grade_id, directory, relative_change_fn, student_id=None) -> dict:
    """relative_change(before, after): mean over images of ||after - before|| / ||before||."""
    seed = shift_seed(student_id)
    try:
        with _checks().quiet(), _checks().preserve_rng():
            got = float(relative_change_fn(*_shift_batches(seed)))
    except Exception as exc:
        return {"error": f"relative_change(before, after) raised {type(exc).__name__}: {exc}"}
    return {"value": got, "seed": seed}


def _floats(mapping, keys) -> dict | None:
    """{key: float} read from the notebook's own measurements (a dict built by a provided
    cell); None when they are missing or not numbers (that cell failed or was changed)."""
    try:  # a recorded reading (JSON) has its keys as text: 1 is "1"
        out = {str(k): float(mapping[k] if k in mapping else mapping[str(k)]) for k in keys}
    except Exception:
        return None
    return out if all(math.isfinite(v) for v in out.values()) else None


def _shift_measured(results) -> dict:
    """The numbers of the student's own shift probe the answers are read from (shifts left
    and right are averaged: a probe that only moved right would push garments into the
    columns the model never sees)."""
    measured = {}
    if isinstance(results, dict):
        keys = (1, -1)
        changes = {stage: _floats(results.get(stage, {}), keys) for stage in ("conv2", "pool2")}
        if all(changes.values()):
            measured["changes"] = {s: (v["1"] + v["-1"]) / 2 for s, v in changes.items()}
        keys = (0, 2, -2)
        acc = {m: _floats(results.get(f"{m} accuracy", {}), keys) for m in ("conv", "dense")}
        if all(acc.values()):
            at2 = {m: (v["2"] + v["-2"]) / 2 for m, v in acc.items()}
            measured["losses"] = {m: acc[m]["0"] - at2[m] for m in acc}
            measured["gains"] = {
                "0": acc["conv"]["0"] - acc["dense"]["0"],
                "2": at2["conv"] - at2["dense"],
            }
    return measured


def _run_measured(conv_acc, dense_acc, conv_params, dense_params, per_class) -> dict:
    """The accuracies, parameters and per-class gains of the student's run."""
    measured = {}
    accuracy = _floats({"conv": conv_acc, "dense": dense_acc}, ["conv", "dense"])
    if accuracy:
        measured["test_acc"] = accuracy
    params = _floats({"conv": conv_params, "dense": dense_params}, ["conv", "dense"])
    if params:
        measured["params"] = {k: int(v) for k, v in params.items()}
    if isinstance(per_class, dict):
        conv = _floats(dict(enumerate(per_class.get("conv", []))), range(10))
        dense = _floats(dict(enumerate(per_class.get("dense", []))), range(10))
        if conv and dense:
            measured["class_gains"] = [conv[str(k)] - dense[str(k)] for k in range(10)]
    return measured


def _collect_shift_reading(grade_id, directory, *values) -> dict:
    """The answers, and the probe's numbers as the notebook's namespace holds them."""
    *answers, results = values
    return {"answers": [artifacts.plain(v) for v in answers], "measured": _shift_measured(results)}


def _collect_conv_vs_dense(grade_id, directory, *values) -> dict:
    """The answers, and the run's numbers as the notebook's namespace holds them."""
    *answers, conv_acc, dense_acc, conv_params, dense_params, per_class = values
    measured = _run_measured(conv_acc, dense_acc, conv_params, dense_params, per_class)
    return {"answers": [artifacts.plain(v) for v in answers], "measured": measured}


def measured_from_readings(grade_id: str, readings: dict) -> dict | None:
    """`measured` for a grade id that reads the run, from the recorded readings; None for
    the others."""
    if grade_id == "shift_reading":
        return _shift_measured(readings.get("shift_results"))
    if grade_id == "conv_vs_dense":
        names = ("conv_test_acc", "dense_test_acc", "conv_params", "dense_params", "per_class")
        return _run_measured(*(readings.get(name) for name in names))
    return None


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


def _judge_layers(grade_id, predictions, spec, want_shapes, want_params, total=None, report=None):
    """Each layer is right if it matches the reference, or if it follows by the notebook's
    rules from the shape the student predicted for the layer before (error carried forward);
    the total is right if it is the reference's or the sum of the student's own counts.

    Only what the student works out is an item: not the last layer's (10,) (the 10 classes
    are given) and not the 0 parameters of pooling and Flatten (true of any model). The sum
    of their own counts carries forward only when one of those counts is right for this
    model: another model's counts add up to another model's total. Nor does a shape whose
    given size is wrong (filters, units: read off the model, not worked out) carry forward.
    """
    expected = reference.expected_layers(spec)
    specs = spec["layers"]
    try:
        rows = _checks().read_layer_predictions(predictions, len(expected), grade_id)
    except _checks().AnswerFormatError as exc:
        return _failed(grade_id, str(exc))
    kinds = [kind for kind, _, _ in expected]
    names = LAB_LAYER_NAMES if len(kinds) == 7 else _stage_names(kinds)
    report = report or Report(grade_id, POINTS[grade_id])
    previous = tuple(spec["input_shape"])  # what the student's first layer receives
    counts_right, carries = 0, True
    for index, (layer, (kind, shape, params), (got_shape, got_params)) in enumerate(
        zip(specs, expected, rows, strict=True)
    ):
        name = names[index]
        carried = reference.follow(layer, previous) if carries else None
        from_yours = f"{names[index - 1]} shape {previous}" if index else "the input"
        if want_shapes and index < len(expected) - 1:
            report.item(*_carried_forward(
                f"{name} ({kind}) output shape", shape, got_shape,
                carried[0] if carried else None, from_yours,
            ))  # fmt: skip
        if want_params and kind in ("Conv2D", "Dense"):
            ok, message = _carried_forward(
                f"{name} ({kind}) parameters", params, got_params,
                carried[1] if carried else None, from_yours,
            )  # fmt: skip
            counts_right += ok
            report.item(ok, message)
        previous = got_shape
        # channels of a conv or pooling output, and a Dense's units, are the model's given sizes
        carries = len(got_shape) == len(shape) and (kind == "Flatten" or got_shape[-1] == shape[-1])
    if total is not None:
        try:
            got_total = _checks().normalize_count(total, "total")
        except _checks().AnswerFormatError as exc:
            return _failed(grade_id, str(exc))
        want_total = reference.expected_total(spec)
        own_sum = sum(got_params for _, got_params in rows) if counts_right else None
        report.item(*_carried_forward(
            "total parameters", want_total, got_total, own_sum, "your own layer counts",
        ))  # fmt: skip
    return report, False


def _show(value):
    return f"{value:,}" if isinstance(value, int) else str(value)


def _carried_forward(what, want, got, carried, source) -> tuple[bool, str]:
    """(passed, message) for one predicted value: the reference, or what follows from the
    student's own earlier answer."""
    if got == want:
        return True, f"{what}: {_show(got)}"
    if carried is not None and got == carried:
        return True, (
            f"{what}: {_show(got)} follows from {source} (error carried forward; "
            f"the model's is {_show(want)})"
        )
    also = (
        f" ({_show(carried)} would follow from {source})"
        if carried is not None and carried != want
        else ""
    )
    return False, f"{what}: expected {_show(want)}, you predicted {_show(got)}{also}"


def _stage_names(kinds) -> list[str]:
    """conv1, conv2, flatten, dense1, dense2 ... for a model without pooling."""
    seen: dict[str, int] = {}
    names = []
    for kind in kinds:
        short = {"Conv2D": "conv", "MaxPooling2D": "pool", "Flatten": "flatten"}.get(kind, "dense")
        seen[short] = seen.get(short, 0) + 1
        names.append(short if short == "flatten" else f"{short}{seen[short]}")
    return names


@dataclass(frozen=True)
class GradedAs:
    """Who nbgrader grades, and whose model Part 4 is judged on: the student's own, or the
    notebook's declared STUDENT_ID when that is no other enrolled student's id (a slip of
    form, such as a full name; course.integrity.part4_model_id decides, outside the kernel)."""

    student: str
    model_id: str


def graded_id(grade_id, payload, graded_as: GradedAs | None) -> tuple[str, Report]:
    """(the id whose model and option letters this answer is judged on, a Report for it).

    During autograde `graded_as` says whose model that is; in the kernel (Validate) it is
    None and the notebook's own STUDENT_ID decides. Ids are compared as the model is picked
    from them (c1w3_checks.canonical_id): "AB123" is "ab123".
    """
    checks = _checks()
    declared = payload.get("declared_id")
    declared = declared.strip() if isinstance(declared, str) and declared.strip() else None
    model_id = graded_as.model_id if graded_as else declared
    if not model_id:
        raise checks.CheckFailed(
            "STUDENT_ID is not set: write your nbgrader student id in the cell at the start of "
            "Part 4, run it, and predict the model it shows you"
        )
    report = Report(grade_id, POINTS[grade_id])
    same = checks.canonical_id
    if graded_as and declared and same(declared) != same(graded_as.student):
        if same(model_id) == same(declared):
            report.note(
                f"this notebook's STUDENT_ID is {declared!r}, not your id "
                f"{graded_as.student!r}: Part 4 was judged on the model {declared!r} shows "
                f"(code {checks.model_code(declared)}), the one you predicted, with the option "
                "letters it showed you"
            )
        else:
            report.note(
                f"this notebook's STUDENT_ID is {declared!r}, another student's id, but it is "
                f"graded as {graded_as.student!r}: the answers are judged on "
                f"{graded_as.student!r}'s own model (code {checks.model_code(model_id)}) and "
                "option letters"
            )
    return model_id, report


def graded_spec(grade_id, payload, graded_as: GradedAs | None):
    """(the model spec this answer is judged on, a Report for it): see graded_id."""
    model_id, report = graded_id(grade_id, payload, graded_as)
    return reference.student_spec(model_id), report


def judge_predict_output_shapes(payload, directory, graded_as=None) -> Judged:
    (predictions,) = _answers(payload, 1)
    spec, report = graded_spec("predict_output_shapes", payload, graded_as)
    return _judge_layers("predict_output_shapes", predictions, spec, True, False, report=report)


def judge_predict_param_counts(payload, directory, graded_as=None) -> Judged:
    predictions, total = _answers(payload, 2)
    spec, report = graded_spec("predict_param_counts", payload, graded_as)
    return _judge_layers(
        "predict_param_counts", predictions, spec, False, True, total, report=report
    )


def judge_predict_no_pooling_variant(payload, directory, graded_as=None) -> Judged:
    predictions, total = _answers(payload, 2)
    spec, report = graded_spec("predict_no_pooling_variant", payload, graded_as)
    return _judge_layers(
        "predict_no_pooling_variant", predictions, reference.without_pooling(spec), True, True,
        total, report=report,
    )  # fmt: skip


def _stage_counts(predictions, spec) -> list[int | None]:
    """Values per image the student's own predicted shapes give for conv1..pool2 (ECF), where
    that shape has this model's channels: another model's shapes carry nothing forward."""
    return [shape and math.prod(shape) for shape in _own_shapes(predictions, spec)[:4]]


def judge_predict_values_per_image(payload, directory, graded_as=None) -> Judged:
    grade_id = "predict_values_per_image"
    values, fewer, predictions = _answers(payload, 3)
    spec, report = graded_spec(grade_id, payload, graded_as)
    want = reference.values_per_image(spec)
    if not isinstance(values, (list, tuple)) or len(values) != len(want):
        return _failed(grade_id, f"expected a list of {len(want)} whole numbers, got {values!r}")
    stages = ("input", "after conv1", "after pool1", "after conv2", "after pool2")
    carried = [None, *_stage_counts(predictions, spec)]
    counted, accepted = [], []
    for stage, expected, own, got in zip(stages, want, carried, values, strict=True):
        try:
            got = _checks().normalize_count(got, stage)
        except _checks().AnswerFormatError as exc:
            return _failed(grade_id, str(exc))
        counted.append(got)
        ok, message = _carried_forward(stage, expected, got, own, "your predicted shape")
        accepted.append(ok)
        report.item(ok, message)
    # From the student's own counts when those were accepted (right, or carried forward):
    # "no" is right whenever their pool2 count >= their input's.
    first, last = (counted if accepted[0] and accepted[-1] else want)[:: len(want) - 1]
    own = "yes" if last < first else "no"
    whose = "your counts" if accepted[0] and accepted[-1] else "your model"
    report.item(
        _choice(fewer) == own,
        f"fewer values after pool2 than in the input: from {whose} ({last:,} after pool2, "
        f"{first:,} in the input) the answer is {own!r}, you wrote {fewer!r}",
    )
    return report, False


def _own_shapes(predictions, spec) -> list[tuple[int, ...] | None]:
    """The student's predicted output shape per layer where it has this model's rank and
    channels (any length for a 1-D shape): what error carried forward may start from."""
    try:
        rows = _checks().read_layer_predictions(predictions, len(LAB_LAYER_NAMES), "predictions")
    except _checks().AnswerFormatError:
        return [None] * len(LAB_LAYER_NAMES)
    return [
        tuple(got) if len(got) == len(want) and (len(got) == 1 or got[-1] == want[-1]) else None
        for (got, _), (_, want, _) in zip(rows, reference.expected_layers(spec), strict=True)
    ]


def _beyond_carried(spec, shapes) -> dict:
    """What follows from the student's own predicted shapes (conv1, pool1, conv2, pool2,
    flatten at 0..4) for each quantity summary() does not print; None where nothing does."""
    (k1, _), (p, _) = spec["layers"][0]["kernel"], spec["layers"][1]["pool"]
    (k2, _), units = spec["layers"][2]["kernel"], spec["layers"][5]["units"]
    channels, filters1 = spec["input_shape"][-1], spec["layers"][0]["filters"]
    conv1, _, conv2, pool2, flatten = shapes[:5]
    return {
        "dropped": [conv1 and conv1[0] % p, conv2 and conv2[0] % p],
        "rows": pool2 and (pool2[0] * p + k2 - 1) * p + k1 - 1,
        "mults": [
            conv1 and math.prod(conv1) * k1 * k1 * channels,
            conv2 and math.prod(conv2) * k2 * k2 * filters1,
            flatten and flatten[0] * units,
            None,
        ],
    }


def judge_predict_beyond_summary(payload, directory, graded_as=None) -> Judged:
    """What model.summary() does not print: the rows each pooling drops, the input rows and
    pixels that reach pool2, each weight layer's multiplications (carried forward from the
    student's own shapes)."""
    grade_id = "predict_beyond_summary"
    dropped, rows, unseen, mults, predictions = _answers(payload, 5)
    spec, report = graded_spec(grade_id, payload, graded_as)
    carried = _beyond_carried(spec, _own_shapes(predictions, spec))
    norm = _checks().normalize_count
    dropped, mults = _checks().as_list(dropped), _checks().as_list(mults)
    for name, values, n in (("pool_rows_dropped", dropped, 2), ("multiplications", mults, 4)):
        if not isinstance(values, (list, tuple)) or len(values) != n:
            return _failed(
                grade_id, f"{name}: expected a list of {n} whole numbers, got {values!r:.80}"
            )
    try:
        dropped = [norm(v, f"pool_rows_dropped, entry {i}") for i, v in enumerate(dropped, 1)]
        mults = [norm(v, f"multiplications, entry {i}") for i, v in enumerate(mults, 1)]
        rows, unseen = norm(rows, "input_rows_used"), norm(unseen, "unseen_pixels")
    except _checks().AnswerFormatError as exc:
        return _failed(grade_id, str(exc))
    source = "your predicted shapes"
    for name, want, got, own in zip(
        ("rows pool1 drops", "rows pool2 drops"), reference.rows_dropped(spec), dropped,
        carried["dropped"], strict=True,
    ):  # fmt: skip
        report.item(*_carried_forward(name, want, got, own, source))
    report.item(*_carried_forward(
        "input rows that reach pool2", reference.input_rows_used(spec), rows, carried["rows"],
        source,
    ))  # fmt: skip
    h, w = spec["input_shape"][:2]  # more rows than the input has: every pixel is reached
    report.item(*_carried_forward(
        "input pixels that never reach pool2", reference.unseen_pixels(spec), unseen,
        h * w - min(rows, h) * min(rows, w), "your input_rows_used",
    ))  # fmt: skip
    for name, want, got, own in zip(
        ("conv1", "conv2", "dense1", "dense2"), reference.multiplications(spec), mults,
        carried["mults"], strict=True,
    ):  # fmt: skip
        report.item(*_carried_forward(f"{name} multiplications", want, got, own, source))
    return report, False


def _choice(value):
    return value.strip().lower() if isinstance(value, str) else value


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
    model, images = _probe_model(), _probe_images(seed=_saved_seed(payload, PROBE_SEED))
    with _checks().quiet(), _checks().preserve_rng():
        probe = keras.Model(model.inputs, [layer.output for layer in model.layers[:4]])
        want = probe.predict(images, verbose=0)
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
    before, after = _shift_batches(_saved_seed(payload, SHIFT_SEED))
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


def judge_weight_sharing(payload, directory, graded_as=None) -> Judged:
    grade_id = "weight_sharing"
    got, values, predictions = _answers(payload, 3)
    spec, report = graded_spec(grade_id, payload, graded_as)
    want = reference.dense_equivalent_params(spec)
    # Error carried forward from the student's own count of conv1's outputs, where that count
    # is their predicted conv1 shape's (with this model's channels) on this model's input.
    carried = None
    if isinstance(values, (list, tuple)) and len(values) == 5:
        try:
            pixels, outputs = (_checks().normalize_count(v, "values") for v in values[:2])
            if pixels == reference.values_per_image(spec)[0] and outputs in (
                reference.values_per_image(spec)[1],
                _stage_counts(predictions, spec)[0],
            ):
                carried = pixels * outputs + outputs
        except _checks().AnswerFormatError:
            pass
    try:
        got = _checks().normalize_count(got, "dense_equivalent_params")
    except _checks().AnswerFormatError as exc:
        return _failed(grade_id, str(exc))
    report.item(*_carried_forward(
        "weights of a Dense layer with conv1's outputs", want, got, carried,
        "your values_per_image",
    ))  # fmt: skip
    return report, False


NOT_MEASURED = (
    "{what}: not graded, your notebook measured nothing to read ({cell} did not run, or gave no "
    "finite numbers: it needs the conv model Part 5 trains). Fix Part 3 first (Part 5's message "
    "says why it did not train), then run the notebook again"
)


def _reading(want_a: str, want_b: str, a: float, b: float, tie: float) -> set[str]:
    """The answers a measured comparison supports: `want_a` if a < b; both when |a - b| is
    within `tie`, the spread of that reading across machines (docs/machine_spread.md)."""
    if abs(a - b) <= tie:
        return {want_a, want_b}
    return {want_a} if a < b else {want_b}


def judge_shift_reading(payload, directory) -> Judged:
    grade_id = "shift_reading"
    steadier, robust, advantage = _answers(payload, 3)
    measured = payload.get("measured") or {}
    report = Report(grade_id, POINTS[grade_id])
    changes = measured.get("changes")
    if changes:
        want = _reading("pool2", "conv2", changes["pool2"], changes["conv2"], SHIFT_CHANGE_TIE)
        seen = f"your probe: conv2 {changes['conv2']:.3f}, pool2 {changes['pool2']:.3f} at 1 px"
        report.item(
            _choice(steadier) in want,
            f"steadier at 1 px: {' or '.join(map(repr, sorted(want)))} ({seen}); you: {steadier!r}",
        )
    else:
        report.item(False, NOT_MEASURED.format(what="steadier at 1 px", cell="the shift probe"))
    losses = measured.get("losses")
    if losses:
        want = _reading("conv", "dense", losses["conv"], losses["dense"], SHIFT_ACCURACY_TIE)
        seen = ", ".join(f"{m} loses {100 * v:.1f} points" for m, v in losses.items())
        report.item(
            _choice(robust) in want,
            f"more robust to 2 px shifts: {' or '.join(map(repr, sorted(want)))} (your probe: "
            f"{seen}); you: {robust!r}",
        )
    else:
        report.item(False, NOT_MEASURED.format(what="more robust", cell="the shift probe"))
    gains = measured.get("gains")
    if gains:
        want = _reading("smaller", "larger", gains["0"], gains["2"], SHIFT_ACCURACY_TIE)
        report.item(
            _choice(advantage) in want,
            f"conv's advantage over dense at 0 px against 2 px: "
            f"{' or '.join(map(repr, sorted(want)))} (your probe: {100 * gains['0']:+.1f} points "
            f"at 0 px, {100 * gains['2']:+.1f} at 2 px); you: {advantage!r}",
        )
    else:
        report.item(False, NOT_MEASURED.format(what="advantage at 0 px", cell="the shift probe"))
    return report, False


# How far a correct notebook's readings move between machines (threads 1-8, AVX2 and AVX-512,
# TensorFlow 2.20 and 2.21: benchmarks/machine_spread.py, docs/machine_spread.md). Every
# reading a student types is accepted within 1.5x its measured spread (tests/test_tolerances.py
# recomputes each from benchmarks/results/machine_spread.json).
# Percentage points of conv - dense test accuracy: spread 0.57; 1.5x that + 0.05 of rounding
# to one decimal = 0.91, rounded up:
GAIN_TOLERANCE_POINTS = 0.95
# A class whose gain is this close to the largest is accepted too (the gap between a class's
# gain and the largest moved by up to 0.060):
CLASS_TIE = 0.09
# A shift-probe comparison this close has both answers: relative change (pool2 - conv2 at 1 px
# moved by 0.003), accuracy as a fraction (loss and advantage differences moved by <= 0.015):
SHIFT_CHANGE_TIE = 0.02
SHIFT_ACCURACY_TIE = 0.03


def judge_conv_vs_dense(payload, directory) -> Judged:
    grade_id = "conv_vs_dense"
    gain, more, biggest = _answers(payload, 3)
    measured = payload.get("measured") or {}
    report = Report(grade_id, POINTS[grade_id])
    accuracies = measured.get("test_acc")
    try:
        # nothing measured is the cause to name, not the answer left as `...` because of it
        gain = _checks().read_number(gain, "accuracy_gain_points") if accuracies else None
    except _checks().AnswerFormatError as exc:
        report.item(False, str(exc))
    else:
        if accuracies:
            want = 100 * (accuracies["conv"] - accuracies["dense"])
            hint = (
                " (that looks like a fraction: write percentage points)" if abs(gain) < 0.1 else ""
            )
            report.item(
                abs(gain - want) <= GAIN_TOLERANCE_POINTS,
                f"accuracy gain: the grader's run of your notebook measured {want:.2f} points "
                f"(conv {accuracies['conv']:.4f}, dense {accuracies['dense']:.4f}); you wrote "
                f"{gain}{hint}",
            )
        else:
            report.item(False, NOT_MEASURED.format(what="accuracy gain", cell="Part 5"))
    params = measured.get("params")
    if params:
        want = "conv" if params["conv"] > params["dense"] else "dense"
        report.item(
            _choice(more) == want,
            f"more parameters: {want!r} (conv {params['conv']:,}, dense {params['dense']:,}); "
            f"you: {more!r}",
        )
    else:
        report.item(False, NOT_MEASURED.format(what="more parameters", cell="Part 5"))
    gains = measured.get("class_gains")
    names = [n.lower() for n in _checks().CLASS_NAMES]
    if gains:
        best = max(gains)
        accepted = [names[k] for k, g in enumerate(gains) if g >= best - CLASS_TIE]
        report.item(
            _choice(biggest) in accepted,
            f"largest gain per class: {' or '.join(repr(a) for a in accepted)} in the grader's "
            f"run of your notebook (+{best:.3f}); you: {biggest!r}",
        )
    else:
        report.item(
            False, NOT_MEASURED.format(what="largest gain per class", cell="the per-class table")
        )
    return report, False


def _counts(values) -> list[int] | None:
    """A student's list of whole numbers (any numeric spelling), None if it is not one."""
    if not isinstance(values, (list, tuple)):
        return None
    try:
        return [_checks().normalize_count(v, "count") for v in values]
    except _checks().AnswerFormatError:
        return None


def judge_pooling_tradeoff(payload, directory, graded_as=None) -> Judged:
    """Three readings of the given 5-seed table (SEED_TABLE), and what pooling saves on the
    student's own Part 4 model: parameters and multiply-adds without it over with it."""
    grade_id = "pooling_tradeoff"
    highest, largest_gap, params_ratio, macs_ratio, shift_kept, *own = _answers(payload, 8)
    table = _checks().SEED_TABLE
    spec, report = graded_spec(grade_id, payload, graded_as)
    want = max(table, key=lambda m: table[m]["test_acc"])
    report.item(_choice(highest) == want, f"highest mean test accuracy: {want!r}; you: {highest!r}")
    gaps = {m: row["train_acc"] - row["test_acc"] for m, row in table.items()}
    want = max(gaps, key=gaps.get)
    report.item(
        _choice(largest_gap) == want, f"largest train-test gap: {want!r}; you: {largest_gap!r}"
    )
    # Error carried forward: the same ratio of the student's own Part 4 counts, where one of
    # them is right for this model (another model's counts give another model's ratio).
    predicted_total, no_pooling_total, mults = own
    bare = reference.without_pooling(spec)
    totals = [reference.expected_total(spec), reference.expected_total(bare)]
    own_totals = _counts([predicted_total, no_pooling_total])
    params_carried = None
    if (
        own_totals
        and own_totals[0]
        and any(o == t for o, t in zip(own_totals, totals, strict=True))
    ):
        params_carried = own_totals[1] / own_totals[0]
    counts = _counts(_checks().as_list(mults))
    bare_macs, macs_carried = reference.macs_per_image(bare), None
    # dense2's count (units x 10) is shared by many models: a conv or dense1 count must match
    if counts and sum(counts) and set(counts[:3]) & set(reference.multiplications(spec)[:3]):
        macs_carried = bare_macs / sum(counts)
    for name, key, got, ratio, carried in (
        ("parameter ratio", "params", params_ratio, totals[1] / totals[0], params_carried),
        ("multiply-add ratio", "macs", macs_ratio, bare_macs / reference.macs_per_image(spec),
         macs_carried),
    ):  # fmt: skip
        try:
            got = _checks().read_number(got, f"{key}_ratio")
        except _checks().AnswerFormatError as exc:
            report.item(False, str(exc))
            continue
        # rounded to one decimal as asked, or more exactly: within half a unit of that place
        right = abs(got - ratio) <= 0.05 + 1e-9
        carries = carried is not None and abs(got - carried) <= 0.05 + 1e-9
        source = (
            " (from your own Part 4 counts; error carried forward)" if carries and not right else ""
        )
        report.item(
            right or carries,
            f"your model's {name}, without pooling over with: {ratio:.2f} (rounded: "
            f"{round(ratio, 1):g}); you: {got}{source}",
        )
    want = max(("conv", "no_pooling"), key=lambda m: table[m]["shift2_acc"])
    report.item(
        _choice(shift_kept) == want,
        f"higher test accuracy under a 2-pixel shift: {want!r} (conv "
        f"{table['conv']['shift2_acc']:.4f}, no_pooling {table['no_pooling']['shift2_acc']:.4f}); "
        f"you: {shift_kept!r}",
    )
    return report, False


def _lettered_item(report, student_id: str, name: str, answer, what: str, why: str) -> None:
    options = _checks().choices_for(student_id, name)
    letter = reference.right_letter(student_id, name)
    right = options[letter]
    chosen = options.get(_choice(answer))
    if chosen is None:
        you = f"you wrote {answer!r}, not one of your letters ({', '.join(options)})"
    else:
        you = f"you chose {answer!r}" + ("" if chosen == right else f", {chosen}")
    report.item(chosen == right, f"{what}: expected {letter!r}, {right} ({why}); {you}")


def judge_conclusion(payload, directory, graded_as=None) -> Judged:
    gain_source, pooling_buys = _answers(payload, 2)
    table = _checks().SEED_TABLE
    student_id, report = graded_id("conclusion", payload, graded_as)
    acc = {m: f"{row['test_acc']:.4f}" for m, row in table.items()}

    def over_dense(model):  # percentage points of test accuracy above the dense model
        return 100 * (table[model]["test_acc"] - table["dense"]["test_acc"])

    _lettered_item(
        report, student_id, "gain_source", gain_source, "what made the gain",
        f"without pooling the model tests higher, {acc['no_pooling']} vs {acc['conv']}; of "
        f"conv's {over_dense('conv'):.1f} points over dense, dense2, about as many parameters, "
        f"gets {over_dense('dense2'):.1f}, within noise, and dense_wide, as much compute, "
        f"{over_dense('dense_wide'):.1f}",
    )  # fmt: skip
    cost = 100 * (table["no_pooling"]["test_acc"] - table["conv"]["test_acc"])
    _lettered_item(
        report, student_id, "pooling_buys", pooling_buys, "what pooling buys",
        f"without it: {table['no_pooling']['params'] / table['conv']['params']:.0f}x the "
        f"parameters, at a cost of {cost:.1f} points of test accuracy ({acc['conv']} vs "
        f"{acc['no_pooling']})",
    )  # fmt: skip
    return report, False


def judge_concept_questions(payload, directory, graded_as=None) -> Judged:
    receptive, why_five, discards = _answers(payload, 3)
    grade_id = "concept_questions"
    student_id, report = graded_id(grade_id, payload, graded_as)
    want = reference.receptive_field(reference.student_spec(student_id))
    try:
        got = _checks().normalize_count(receptive, "receptive_field")
        report.item(got == want, f"receptive field: expected {want}x{want}, you wrote {got}")
    except _checks().AnswerFormatError as exc:
        report.item(False, str(exc))
    _lettered_item(
        report, student_id, "why_five", why_five, "why 5",
        "11 / 2 rounds down: conv2's last row and column are in no complete window",
    )  # fmt: skip
    _lettered_item(
        report, student_id, "pooling_discards", discards, "what max pooling throws away",
        "each window keeps its largest value",
    )  # fmt: skip
    return report, False


def _answers(payload, n):
    answers = payload.get("answers")
    if not isinstance(answers, list) or len(answers) != n:
        raise _checks().CheckFailed("the grader found no saved answers")
    return [artifacts.unplain(a) for a in answers]


# grade id -> (collect, judge); points and the names each reads: graders.registry
_FUNCTIONS = {
    "conv_model_architecture": (_collect_model, judge_conv_model_architecture),
    "conv_model_compiled": (_collect_model, judge_conv_model_compiled),
    "predict_output_shapes": (_collect_answers, judge_predict_output_shapes),
    "predict_param_counts": (_collect_answers, judge_predict_param_counts),
    "predict_values_per_image": (_collect_answers, judge_predict_values_per_image),
    "predict_no_pooling_variant": (_collect_answers, judge_predict_no_pooling_variant),
    "predict_beyond_summary": (_collect_answers, judge_predict_beyond_summary),
    "conv_test_accuracy": (_collect_trained_model, judge_conv_test_accuracy),
    "feature_extractor": (_collect_stage_outputs, judge_feature_extractor),
    "weight_sharing": (_collect_answers, judge_weight_sharing),
    "shift_probe": (_collect_relative_change, judge_shift_probe),
    "shift_reading": (_collect_shift_reading, judge_shift_reading),
    "conv_vs_dense": (_collect_conv_vs_dense, judge_conv_vs_dense),
    "pooling_tradeoff": (_collect_answers, judge_pooling_tradeoff),
    "conclusion": (_collect_answers, judge_conclusion),
    "concept_questions": (_collect_answers, judge_concept_questions),
}
assert list(_FUNCTIONS) == list(registry.CHECKS), "graders.registry and _FUNCTIONS disagree"
# grade id -> (collect, judge, the names it reads from the notebook's namespace)
CHECKS = {g: (*fns, registry.CHECKS[g].reads) for g, fns in _FUNCTIONS.items()}


def collect(grade_id: str, namespace: dict, directory: Path = GRADING_DIR) -> dict:
    """Run the student's side of one check and save the result as an artifact."""
    collect_fn, _, names = CHECKS[grade_id]
    # "name?": read when there (an earlier answer for error carried forward, or a provided
    # cell's measurements), None when not; the other names are the answers this id grades.
    missing = [name for name in names if not name.endswith("?") and name not in namespace]
    if missing:
        payload = {
            "error": f"{missing[0]} is not defined: the cell that defines it did not run to "
            "the end (look for its error above)"
        }
    else:
        values = (namespace.get(name.rstrip("?")) for name in names)
        try:
            payload = collect_fn(grade_id, directory, *values)
        except Exception as exc:  # a student's object can raise from anywhere
            payload = {"error": f"{type(exc).__name__}: {exc}"}
        declared = namespace.get("STUDENT_ID")
        if grade_id in VARIANT_GRADE_IDS and isinstance(declared, str) and declared.strip():
            payload["declared_id"] = declared.strip()[:200]
    artifacts.write(grade_id, payload, directory)
    return payload


def judge(
    grade_id: str,
    payload: dict | None,
    directory: Path,
    *,
    in_process: bool = False,
    student: str | None = None,
    model_id: str | None = None,
    readings: dict | None = None,
) -> Judged:
    """The verdict on a saved artifact; every failure is a report, never an exception.

    `in_process`: this interpreter is a fresh, isolated one (graders.verify), so a saved
    model is evaluated here instead of in a child process. `student`: the id nbgrader grades
    under (autograde); None judges Part 4's model from the notebook's own STUDENT_ID.
    `model_id`: whose model Part 4 is judged on when not `student`'s (GradedAs).
    `readings`: what the provided cells recorded (autograde); the run's numbers then come
    from them, not from the kernel's namespace (READINGS_CELLS).
    """
    if payload is None:
        return _failed(grade_id, "the grader's part of this cell did not run")
    if payload.get("error"):
        return _failed(grade_id, str(payload["error"]))
    if (
        readings is not None
        and (measured := measured_from_readings(grade_id, readings)) is not None
    ):
        payload = {**payload, "measured": measured}
    # Only the deferred checks evaluate a model, only Part 4's kind judge a student's own
    # model; the others take (payload, directory).
    options = {"in_process": in_process} if grade_id in DEFERRED_IN_AUTOGRADE else {}
    if grade_id in VARIANT_GRADE_IDS:
        options = {"graded_as": GradedAs(student, model_id or student) if student else None}
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
