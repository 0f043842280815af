"""The box a student reads first on the feedback page (course.feedback): every lost item with
its cause, items lost to one earlier error under it, the TA's part pending, what the grader
did, and nothing about the grader's internals. The release notebook's grade cells carry the
outputs the verifier writes (course.nbgrader_plugins._outputs of real Verdicts) and the
scores GetGrades puts in their metadata."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbformat.v4 import new_output

from course import feedback
from course.nbgrader_plugins import _outputs
from graders.report import Report
from tests.support.course import RELEASE

MODEL_ERROR = "CheckFailed: build_conv_model() raised AttributeError: no attribute 'Conv2d'"
CACHE_LINE = "[the grader's training cache: the stored result of this exact training (key 0123)]\n"


def _verdict(grade_id: str, points: float, wrong: list[str], ran=True, stopped_by=None):
    report = Report(grade_id, points)
    if stopped_by:  # no artifact: the verifier gives nothing (graders.hidden._failed)
        wrong = ["the grader's part of this cell did not run"]
    for message in wrong:
        report.item(False, message)
    if not wrong:
        report.item(True, "right")
    verdict = report.verdict(True, ran=ran)
    return verdict.not_run(stopped_by) if stopped_by else verdict


def graded_notebook(lost: dict) -> nbformat.NotebookNode:
    """The release with each grade cell graded: `lost` maps grade ids to a Verdict; the
    others get full marks. GetGrades' metadata (score, points) as nbgrader writes it."""
    nb = nbformat.read(RELEASE, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") or meta.get("task")):
            continue
        points = float(meta.get("points", 0))
        if meta.get("task"):  # the TA's part: no score yet
            meta.update(score=0.0, points=points)
            continue
        verdict = lost.get(meta["grade_id"]) or _verdict(meta["grade_id"], points, [])
        cell.outputs = _outputs(verdict)
        meta.update(score=verdict.points, points=points)
    return nb


@pytest.fixture
def student_notebook():
    points = {"conv_model_architecture": 8, "conv_test_accuracy": 10, "shift_reading": 6}
    lost = {
        "conv_model_architecture": _verdict(
            "conv_model_architecture", 8, [], ran=False, stopped_by=MODEL_ERROR
        ),
        "conv_test_accuracy": _verdict(
            "conv_test_accuracy",
            10,
            ["conv_model is not defined: the cell that defines it did not run to the end"],
        ),
        "shift_reading": _verdict(
            "shift_reading",
            6,
            [],
            ran=False,
            stopped_by="NotRun: not run: the notebook's kernel died in an earlier cell",
        ),
        "concept_questions": _verdict(
            "concept_questions", 6, ["receptive field: expected 17x17, you wrote 15"]
        ),
    }
    assert {g: lost[g].max_points for g in points} == points
    nb = graded_notebook(lost)
    train = next(c for c in nb.cells if c.get("id") == "train_conv_model")
    train.outputs = [new_output("stream", name="stdout", text="Epoch 1/5\n" + CACHE_LINE)]
    return nb


def test_the_box_lists_every_lost_items_cause_under_the_error_it_follows(student_notebook):
    text = feedback.box(student_notebook, {"explain_accuracy_gain"}, [])
    graded = [c.metadata["nbgrader"] for c in student_notebook.cells
              if c.cell_type == "code" and "score" in c.metadata.get("nbgrader", {})]  # fmt: skip
    lost = [m["grade_id"] for m in graded if m["score"] < m["points"]]
    assert sorted(lost) == [
        "concept_questions", "conv_model_architecture", "conv_test_accuracy", "shift_reading"
    ]  # fmt: skip
    for grade_id in lost:
        assert f"[`{grade_id}`](#{grade_id})" in text, grade_id
    first = next(line for line in text.splitlines() if "conv_model_architecture" in line)
    assert first.startswith("- Part 3, ") and MODEL_ERROR.removeprefix("CheckFailed: ") in first
    assert "CheckFailed" not in text  # the checks' exception name says nothing to a student
    assert "Also lost to it: " in first and "conv_test_accuracy" in first
    receptive = next(line for line in text.splitlines() if "concept_questions" in line)
    assert "receptive field: expected 17x17, you wrote 15" in receptive
    assert "**Automatic points: 60 of 90.**" in text
    assert "Part 7, graded by a TA (10 points): **pending**." in text
    assert "0 of 10" not in text.split("**Automatic points by part:**")[0]  # TA's not lost
    # one line a part, its points after it
    assert any(re.fullmatch(r"- Part 3: [\d.]+ of 10", line) for line in text.splitlines())


def test_the_feedback_preprocessor_puts_the_box_first_and_says_nothing_of_the_cache(
    student_notebook, tmp_path
):
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(tmp_path)  # no gradebook here: nothing pending
    step = feedback.WhatToFix(config=config)
    resources = {"nbgrader": {"student": "ada", "assignment": "c1w3_convolutions",
                              "notebook": "c1w3_convolutions"}}  # fmt: skip
    nb, _ = step.preprocess(student_notebook, resources)
    nb, _ = step.preprocess(nb, resources)  # twice: still one box
    assert nb.cells[0].id == feedback.BOX_ID and nb.cells[1].id != feedback.BOX_ID
    page = "\n".join(str(c.source) + "".join(feedback._text(o) for o in c.get("outputs", []))
                     for c in nb.cells)  # fmt: skip
    assert "training cache" not in page and "Epoch 1/5" in page


def test_what_the_grader_did_is_said_in_the_students_words():
    nb = graded_notebook({})
    cell = next(c for c in nb.cells if c.get("id") == "concept_answers")
    cell.outputs = [
        new_output("error", ename="CellTimeoutError", evalue="A cell timed out after 60 seconds")
    ]
    said = feedback.events(nb, feedback._parts(nb))
    assert said == [
        "A cell in Part 6 ran past its time limit and was interrupted (A cell timed out after "
        "60 seconds). Make it finish sooner (a loop that never ends?), then restart the kernel "
        "and Run All before you submit."
    ]
    assert "**No automatic point lost.**" in feedback.box(nb, set(), said)


def test_a_student_id_slip_is_said_once_in_the_box():
    report = Report("predict_param_counts", 8)
    report.note("this notebook's STUDENT_ID is 'Ada L', not your id 'ada': Part 4 was judged "
                "on the model 'Ada L' shows (code 1A2B), the one you predicted")  # fmt: skip
    report.item(True, "right")
    nb = graded_notebook({"predict_param_counts": report.verdict(False)})
    said = feedback.events(nb, feedback._parts(nb))
    assert said == [
        "Part 4: This notebook's STUDENT_ID is 'Ada L', not your id 'ada': Part 4 was judged "
        "on the model 'Ada L' shows (code 1A2B), the one you predicted."
    ]
