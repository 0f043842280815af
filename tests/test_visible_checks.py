"""The notebook's visible checks reject the wrong implementations students write, and pass
the right one, without revealing hidden values. Each check runs as in the notebook: its
visible part (the source cell up to the hidden tests), in a namespace holding the answer."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest
import tensorflow as tf

from graders import hidden, public_checks, reference
from tests.support.course import RELEASE, SOURCE

NOTEBOOK = nbformat.read(SOURCE, as_version=4)


def _cell(grade_id):
    return next(
        c for c in NOTEBOOK.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _visible(grade_id) -> str:
    return _cell(grade_id).source.split("### BEGIN HIDDEN TESTS")[0]


def _solution(grade_id) -> str:
    return _cell(grade_id).source.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")


def _namespace(**answers):
    images = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    ns = {"tf": tf, "np": np, "test_images": images}
    ns.update(vars(public_checks()))
    ns.update(answers)
    return ns


def _reference(grade_id, name):
    ns = _namespace()
    exec(_solution(grade_id), ns)
    return ns[name]


def _all_layers(model, images):
    outputs = [layer.output for layer in model.layers]
    return tf.keras.models.Model(inputs=model.inputs, outputs=outputs).predict(images, verbose=0)


def _first_four_of_other_images(model, images):
    """Right layers, wrong inputs (the batch reversed): shapes pass, values do not."""
    outputs = [layer.output for layer in model.layers[:4]]
    probe = tf.keras.models.Model(inputs=model.inputs, outputs=outputs)
    return probe.predict(images[::-1], verbose=0)


def _norm_over_batch(before, after):
    return float(np.linalg.norm(after - before) / np.linalg.norm(before))


def _per_image_no_mean(before, after):
    n = len(before)
    b, a = np.asarray(before).reshape(n, -1), np.asarray(after).reshape(n, -1)
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def _flat(before, after):
    n = len(before)
    return np.asarray(before).reshape(n, -1), np.asarray(after).reshape(n, -1)


def _per_image(change, size=lambda b: 1.0, power=1):
    """mean over images of (change(after_i - before_i) / size(before_i)) ** power"""

    def wrong(before, after):
        b, a = _flat(before, after)
        return float(np.mean((change(a - b) / size(b)) ** power))

    return wrong


def _l2(x):
    return np.linalg.norm(x, axis=1)


_no_division = _per_image(_l2)
_squared_ratio = _per_image(_l2, _l2, power=2)
_l1_ratio = _per_image(lambda d: np.abs(d).sum(axis=1), lambda b: np.abs(b).sum(axis=1))
_max_abs_ratio = _per_image(lambda d: np.abs(d).max(axis=1), lambda b: np.abs(b).max(axis=1))


def _batch_difference_over_n(before, after):
    b, a = _flat(before, after)
    return float(np.linalg.norm(a - b) / len(b))


def _ratio_of_means(before, after):
    b, a = _flat(before, after)
    return float(np.mean(np.linalg.norm(a - b, axis=1)) / np.mean(np.linalg.norm(b, axis=1)))


WRONG = {  # (check cell, the name it reads, a wrong implementation)
    # the five that passed the earlier hand-worked pair (issue 21), and two more
    "relative_change_no_division": ("shift_probe", "relative_change", _no_division),
    "relative_change_squared_ratio": ("shift_probe", "relative_change", _squared_ratio),
    "relative_change_l1_ratio": ("shift_probe", "relative_change", _l1_ratio),
    "relative_change_max_abs_ratio": ("shift_probe", "relative_change", _max_abs_ratio),
    "relative_change_batch_difference_over_n": (
        "shift_probe",
        "relative_change",
        _batch_difference_over_n,
    ),
    "relative_change_ratio_of_means": ("shift_probe", "relative_change", _ratio_of_means),
    "stage_outputs_returns_every_layer": ("feature_extractor", "stage_outputs", _all_layers),
    "stage_outputs_of_other_images": (
        "feature_extractor",
        "stage_outputs",
        _first_four_of_other_images,
    ),
    "relative_change_returns_zero": ("shift_probe", "relative_change", lambda b, a: 0.0),
    "relative_change_one_norm_over_the_batch": ("shift_probe", "relative_change", _norm_over_batch),
    "relative_change_without_the_mean": ("shift_probe", "relative_change", _per_image_no_mean),
}


@pytest.mark.parametrize("name", WRONG)
def test_a_wrong_implementation_fails_its_visible_check(name):
    grade_id, variable, wrong = WRONG[name]
    with pytest.raises((AssertionError, ValueError, TypeError)):
        exec(_visible(grade_id), _namespace(**{variable: wrong}))


@pytest.mark.parametrize(
    "grade_id, answer_cell, variable",
    [
        ("feature_extractor", "stage_outputs_answer", "stage_outputs"),
        ("shift_probe", "relative_change_answer", "relative_change"),
    ],
)
def test_the_reference_passes_its_visible_check(grade_id, answer_cell, variable):
    exec(_visible(grade_id), _namespace(**{variable: _reference(answer_cell, variable)}))


def _relative_change_float32(before, after):
    """A correct implementation in TensorFlow ops, float32 (TensorFlow's default)."""
    before = tf.reshape(tf.cast(before, tf.float32), (len(before), -1))
    after = tf.reshape(tf.cast(after, tf.float32), (len(after), -1))
    return tf.reduce_mean(tf.norm(after - before, axis=1) / tf.norm(before, axis=1))


def test_a_correct_implementation_in_float32_passes_the_visible_check():
    """The hand-worked 0.7 computed in float32 is 3e-9 off: the check's tolerance comes from
    the arithmetic a correct student may use (float32, TensorFlow's default), not float64's."""
    before = np.array([[3.0, 4, 0, 0], [1.0, 0, 0, 0]]).reshape(2, 2, 2, 1)
    after = before + np.array([[0, 0, 0, 2.0], [0, 1.0, 0, 0]]).reshape(2, 2, 2, 1)
    assert abs(float(_relative_change_float32(before, after)) - 0.7) > 1e-9  # float32's 0.7
    exec(_visible("shift_probe"), _namespace(relative_change=_relative_change_float32))
    report, _ = hidden.judge(
        "shift_probe",
        hidden._collect_relative_change("shift_probe", None, _relative_change_float32),
        None,
    )
    assert report.points == report.max_points


def test_every_name_a_check_reads_is_named_before_it_in_the_release():
    """Each name a grade id reads (hidden.CHECKS; "name?" ones are optional) appears in the
    released notebook before its check cell: in the stub the student fills in (with a
    placeholder like `predicted_layers = ...`) or in a provided cell."""
    released = nbformat.read(RELEASE, as_version=4)
    seen = ""
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in hidden.CHECKS:
            for name in hidden.CHECKS[grade_id][2]:
                if not name.endswith("?"):
                    assert re.search(rf"\b{name}\b", seen), f"{grade_id} reads {name}"
        seen += cell.source + "\n"
    stubs = [c.source for c in released.cells if c.metadata.get("nbgrader", {}).get("solution")]
    placeholders = {m for stub in stubs for m in re.findall(r"^(\w+) = \.\.\.$", stub, re.M)}
    assert {"STUDENT_ID", "predicted_layers", "no_pooling_total", "gain_source", "macs_ratio"} <= (
        placeholders
    )


class _Model:
    def __init__(self, steps):
        self.optimizer = type("Opt", (), {"iterations": tf.Variable(steps, dtype="int64")})()


def _training_namespace(dense_steps, conv_steps, conv_model=None):
    if conv_model is not None:
        conv_model.optimizer.iterations.assign(conv_steps)
    return {
        "EPOCHS": 5,
        "BATCH_SIZE": 128,
        "training_images": np.zeros((60_000, 1), "uint8"),
        "dense_model": _Model(dense_steps),
        "conv_model": conv_model if conv_model is not None else _Model(conv_steps),
    }


def _compiled(layers):
    model = reference.build(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_a_training_stopped_part_way_is_named_with_its_steps():
    with pytest.raises(public_checks().CheckFailed, match="Part 5 did not finish: conv_model "
                       "made 1,200 of its 2,345 training steps"):  # fmt: skip
        public_checks().check_training_finished(_training_namespace(2345, 1200))


@pytest.mark.parametrize(
    ("dense_steps", "conv_steps", "part"), [(0, 2345, "Part 2"), (2345, 0, "Part 5")]
)
def test_a_time_limit_before_the_first_step_is_not_finished(dense_steps, conv_steps, part):
    """A time limit that lands before the first step (CI's dense cell at 1 s) leaves 0 steps;
    for the lab's model that is not a refusal."""
    lab = _compiled(public_checks().LAB_LAYERS)
    with pytest.raises(public_checks().CheckFailed, match=f"{part} did not finish: .* made 0 of"):
        public_checks().check_training_finished(_training_namespace(dense_steps, conv_steps, lab))


def test_a_refused_or_finished_training_is_left_to_the_grader(capsys):
    """0 steps of a model that is not the lab's: the training cell refused it and said why; the
    grader's message names the difference, not 'interrupted'."""
    dense_only = _compiled(
        [{"kind": "Flatten"}, {"kind": "Dense", "units": 10, "activation": "softmax"}]
    )
    public_checks().check_training_finished(_training_namespace(2345, 0, dense_only))
    public_checks().check_training_finished(_training_namespace(2345, 2345))
    assert "Both models trained for all 2,345 steps." in capsys.readouterr().out


def test_the_grading_tells_the_kernel_whose_notebook_it_is():
    """The executor hands nbgrader's student id to the kernel manager, which puts it in the
    kernel's environment under the name signed_in_id reads (sample class: id_left_unset)."""
    from nbformat.v4 import new_notebook
    from traitlets.config import Config

    from course.nbgrader_plugins import SandboxedExecute, student_variables

    config = Config()
    config.Sandbox.enabled = False
    executor = SandboxedExecute(config=config)
    executor.nb, executor._student = new_notebook(), "ab123"
    assert executor.create_kernel_manager().graded_student == "ab123"
    assert student_variables("ab123") == {public_checks().GRADED_STUDENT_ENV: "ab123"}
    assert student_variables(None) == {}


def test_an_unset_student_id_is_the_jupyterhub_user_and_never_the_graders(monkeypatch, capsys):
    checks = public_checks()
    assert checks.signed_in_id("ab123") == "ab123"  # written: kept as written
    monkeypatch.setenv("JUPYTERHUB_USER", "cd456")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert checks.signed_in_id(...) == "cd456"
    assert "using 'cd456', the JupyterHub user" in capsys.readouterr().out
    assert checks.signed_in_id("ab123") == "ab123"  # a written id wins (show_variant warns)
    # autograde runs as the grader, whose user name is no student's: the graders decide
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(checks.CheckFailed, match="STUDENT_ID is not set"):
        checks.signed_in_id(...)
    # ... unless the grading told the kernel whose notebook it is
    monkeypatch.setenv(checks.GRADED_STUDENT_ENV, "ef789")
    assert checks.signed_in_id(...) == "ef789"
    assert "graded as 'ef789', the student this notebook was collected from" in (
        capsys.readouterr().out
    )
    monkeypatch.delenv(checks.GRADED_STUDENT_ENV)
    monkeypatch.delenv("JUPYTERHUB_USER")
    monkeypatch.delenv("NBGRADER_EXECUTION")
    with pytest.raises(checks.CheckFailed, match="STUDENT_ID is not set"):
        checks.signed_in_id("  ")
