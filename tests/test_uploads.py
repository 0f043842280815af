"""Uploads as they arrive: LMS downloads and browsers rename files. No training, no nbgrader."""

from __future__ import annotations

import pytest

from course import runner
from course.context import GradingContext
from course.layout import Layout
from graders import ASSIGNMENT

NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def _folder(tmp_path, *files):
    folder = tmp_path / "submitted" / "ada" / ASSIGNMENT
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text(f'{{"cells": [], "name": "{name}"}}')
    return folder


def test_a_single_misnamed_notebook_is_graded_under_the_assignments_name(tmp_path):
    folder = _folder(tmp_path, f"{ASSIGNMENT} (1).ipynb", "c1w3_checks.py")
    note = runner.resolve_upload(Layout(tmp_path), "ada")
    assert note == f"graded `{ASSIGNMENT} (1).ipynb` as {NOTEBOOK} (the upload had another name)"
    assert (folder / NOTEBOOK).read_bytes() == (folder / f"{ASSIGNMENT} (1).ipynb").read_bytes()
    # The original stays; a regrade says the same; the note is not part of the submission hash.
    assert runner.resolve_upload(Layout(tmp_path), "ada") == note
    before = runner.submission_hash(Layout(tmp_path), "ada")
    (folder / runner.UPLOAD_NOTE).write_text("{}")
    assert runner.submission_hash(Layout(tmp_path), "ada") == before


def test_a_new_upload_under_the_right_name_drops_the_note(tmp_path):
    folder = _folder(tmp_path, "Copy of c1w3.ipynb")
    assert runner.resolve_upload(Layout(tmp_path), "ada")
    (folder / NOTEBOOK).write_text('{"cells": [], "resubmitted": true}')
    assert runner.resolve_upload(Layout(tmp_path), "ada") == ""


def test_the_right_name_needs_no_note(tmp_path):
    _folder(tmp_path, NOTEBOOK, "scratch.ipynb")
    assert runner.resolve_upload(Layout(tmp_path), "ada") == ""


@pytest.mark.parametrize(
    "files, words",
    [
        (
            ("a.ipynb", "b.ipynb"),
            "several notebooks and none named c1w3_convolutions.ipynb: a.ipynb, b.ipynb",
        ),
        (("answers.pdf",), "no notebook in the submission (found: answers.pdf)"),
        ((), "no notebook in the submission (found: nothing)"),
    ],
)
def test_no_single_notebook_is_a_reason_naming_what_was_found(tmp_path, files, words):
    _folder(tmp_path, *files)
    with pytest.raises(
        runner.UngradableUpload, match=words.replace("(", r"\(").replace(")", r"\)")
    ):
        runner.resolve_upload(Layout(tmp_path), "ada")


def test_an_ungradable_upload_is_recorded_with_its_reason_without_running_nbgrader(
    tmp_path, monkeypatch
):
    _folder(tmp_path, "a.ipynb", "b.ipynb")
    monkeypatch.setattr(runner, "_autograde", lambda *a, **k: pytest.fail("nbgrader ran"))
    kept = []
    monkeypatch.setattr(runner, "record_ungraded", lambda grading, student: kept.append(student))
    run = runner.grade_student(
        GradingContext.of(tmp_path, db_url=f"sqlite:///{tmp_path}/gradebook.db"), "ada"
    )
    assert not run.ok and "several notebooks" in run.reason and kept == ["ada"]
    assert runner.read_record(Layout(tmp_path), "ada")["reason"] == run.reason
