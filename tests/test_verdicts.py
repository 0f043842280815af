"""Verdicts, the verifier, the cells it writes and the integrity record, without training or
running nbgrader: tiny notebooks built with nbformat, tiny artifact folders, and (for
RestoreDeletedCells) a SQLite gradebook in tmp_path."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader import utils
from nbgrader.preprocessors import OverwriteCells
from traitlets.config import Config

from course import gradebook, integrity, nbgrader_plugins
from course.layout import Layout
from course.nbgrader_plugins import RestoreDeletedCells, VerifyOutsideKernel
from graders import accuracy, artifacts, hidden, public_checks, verify
from graders.report import Report, Verdict

# -- helpers ----------------------------------------------------------------------------------


def _report(grade_id: str, *oks: bool) -> Report:
    report = Report(grade_id, hidden.POINTS[grade_id])
    for i, ok in enumerate(oks):
        report.item(ok, f"item {i}")
    return report


def _grade_cell(grade_id: str, points: float, *outputs, locked: bool = True):
    cell = new_code_cell(f'grade("{grade_id}", globals())')
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": grade_id,
        "points": points,
        "locked": locked,
        "solution": False,
        "schema_version": 3,
    }
    cell.outputs = list(outputs)
    return cell


def _locked_cell(grade_id: str, source: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": grade_id,
        "locked": True,
        "solution": False,
        "schema_version": 3,
    }
    return cell


def _stdout(text: str):
    return new_output("stream", name="stdout", text=text)


def _error(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[])


def _cell(nb, grade_id: str):
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


# -- Verdict ----------------------------------------------------------------------------------


def test_a_verdict_survives_json():
    verdict = _report("pooling_tradeoff", True, False, True).verdict(False)
    data = json.loads(json.dumps(verdict.to_json()))
    assert set(data) == {"points", "max_points", "all_or_nothing", "ran", "text", "failures"}
    assert Verdict.from_json(data) == verdict
    assert Verdict.from_json(dict(data, points=6, max_points=10)).points == 6.0


def test_anything_but_a_verdict_is_refused():
    data = _report("shift_probe", True).verdict(True).to_json()
    missing = {k: v for k, v in data.items() if k != "points"}
    for broken in ({}, missing, "a string", {**data, "failures": "x"}, {**data, "points": "?"}):
        with pytest.raises((KeyError, TypeError, ValueError)):
            Verdict.from_json(broken)


def test_passed_means_every_item_and_at_least_one():
    assert _report("shift_probe", True, True).passed
    assert not _report("shift_probe", True, False).passed
    assert not _report("shift_probe").passed  # nothing checked is not a pass
    assert _report("shift_probe").failures == ["nothing was checked"]


def test_all_or_nothing_verdicts_give_full_marks_or_zero():
    passed = _report("conv_model_architecture", True).verdict(True)
    failed = _report("conv_model_architecture", True, False).verdict(True)
    full = hidden.POINTS["conv_model_architecture"]
    assert (passed.points, passed.passed, passed.failures) == (full, True, [])
    assert (failed.points, failed.passed, failed.failures) == (0.0, False, ["item 1"])
    assert not _report("conv_model_architecture").verdict(True).passed


def test_partial_verdicts_count_items():
    verdict = _report("pooling_tradeoff", True, True, True, False).verdict(False)
    assert verdict.points == 6.0 and not verdict.passed and verdict.failures == ["item 3"]
    assert "3 of 4 correct -> 6 of 8 points" in verdict.text
    assert _report("pooling_tradeoff", True).verdict(False).passed


def test_all_or_nothing_report_raises_with_the_same_failures():
    with pytest.raises(Exception, match="conv_model_compiled: nothing was checked"):
        _report("conv_model_compiled").all_or_nothing(show=False)
    assert _report("conv_model_compiled", True).all_or_nothing(show=False) is None


def test_unverified_is_zero_points_and_says_why():
    verdict = Verdict.unverified("shift_probe", 5.0, "exit 1: boom")
    assert (verdict.points, verdict.max_points, verdict.ran) == (0.0, 5.0, True)
    assert not verdict.passed
    assert verdict.text == "shift_probe: the grader could not verify this cell (exit 1: boom)"
    assert "(no result)" in Verdict.unverified("shift_probe", 5.0, "").failures[0]


def test_not_run_says_where_the_cell_stopped():
    verdict = hidden.judge("shift_probe", None, Path("nowhere"))[0].verdict(True, ran=False)
    stopped = verdict.not_run("NameError: name 'x' is not defined")
    assert not stopped.ran and not stopped.passed and stopped.points == 0.0
    assert stopped.failures == [
        "the grader's part of this cell did not run "
        "(the cell stopped first: NameError: name 'x' is not defined)"
    ]
    assert stopped.text.splitlines() == [verdict.text.splitlines()[0], "  " + stopped.failures[0]]
    replaced = verdict.not_run(None)
    assert replaced.failures == [
        "the grader's part of this cell left no result (the notebook replaced it)"
    ]


# -- graders.verify and the artifact folder ---------------------------------------------------


def test_an_empty_grading_folder_ran_nothing(tmp_path):
    verdicts = verify.verify(tmp_path)
    assert list(verdicts) == list(hidden.POINTS)
    for grade_id, verdict in verdicts.items():
        assert not verdict.ran and verdict.points == 0.0
        assert verdict.max_points == hidden.POINTS[grade_id]
        assert verdict.failures == ["the grader's part of this cell did not run"]


@pytest.mark.parametrize("argv", [[], ["--wait"]])
def test_verify_prints_the_verdicts_as_json(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.setattr("sys.stdin", io.StringIO("go\n"))  # read only with --wait
    assert verify.main([*argv, str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed) == set(hidden.POINTS)
    assert {Verdict.from_json(v).ran for v in printed.values()} == {False}


@pytest.mark.parametrize("stdin", ["", "stop\n"])
def test_a_waiting_verifier_without_go_judges_nothing(tmp_path, monkeypatch, capsys, stdin):
    """Started with the kernel, told nothing (the grading failed first): no verdicts."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert verify.main(["--wait", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def _relative_change() -> float:
    before, after = hidden._shift_batches()
    b, a = before.reshape(len(before), -1), after.reshape(len(after), -1)
    return float(np.mean(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)))


@pytest.mark.parametrize("right", [True, False])
def test_a_hand_written_artifact_is_judged(tmp_path, right):
    value = _relative_change() if right else _relative_change() + 0.5
    artifacts.write("shift_probe", {"value": value}, tmp_path)
    verdicts = verify.verify(tmp_path)
    verdict = verdicts["shift_probe"]
    assert verdict.ran and verdict.all_or_nothing
    assert (verdict.points, verdict.passed) == ((4, True) if right else (0.0, False))
    assert not verdicts["concept_questions"].ran


def test_a_broken_artifact_is_a_failure_not_a_crash(tmp_path):
    (tmp_path / "shift_probe.json").write_text("{not json")
    artifacts.write("concept_questions", {"answers": "not a list"}, tmp_path)
    verdicts = verify.verify(tmp_path)
    assert not verdicts["shift_probe"].ran
    assert verdicts["concept_questions"].ran
    assert verdicts["concept_questions"].failures == ["the grader found no saved answers"]


def test_the_artifact_path_guard_refuses_files_outside_the_folder(tmp_path):
    folder = tmp_path / "_grading"
    folder.mkdir()
    outside = tmp_path / "outside.keras"
    outside.write_bytes(b"anything")
    (folder / "inside.keras").write_bytes(b"anything")
    os.symlink(outside, folder / "link.keras")
    assert artifacts.file_in(folder, "inside.keras") == folder / "inside.keras"
    for name in ("../outside.keras", str(outside), "link.keras", ".hidden", None, ["x"], "nope"):
        assert artifacts.file_in(folder, name) is None, name
    artifacts.write("conv_model_architecture", {"model": "../outside.keras"}, folder)
    verdict = verify.verify(folder)["conv_model_architecture"]
    assert verdict.failures == ["the grader found no saved model"]


def test_the_verifier_evaluates_a_model_in_its_own_process(tmp_path, monkeypatch):
    """graders.verify is the fresh interpreter: no child process judges the accuracy."""

    def no_child(*args, **kwargs):
        raise AssertionError("a child process was started")

    monkeypatch.setattr(accuracy.subprocess, "run", no_child)
    (tmp_path / "conv_model.keras").write_bytes(b"not a zip file")
    artifacts.write("conv_test_accuracy", {"model": "conv_model.keras"}, tmp_path)
    verdict = verify.verify(tmp_path)["conv_test_accuracy"]
    assert verdict.ran and verdict.points == 0.0
    assert verdict.failures[0].startswith("the saved model could not be loaded")


# -- VerifyOutsideKernel: the verdicts written into the cells ---------------------------------


def _graded_notebook():
    return new_notebook(
        cells=[
            new_markdown_cell("# The lab"),
            new_code_cell("x = 1"),
            _grade_cell("conv_model_architecture", 8, _stdout("model built\n")),
            _grade_cell("conv_model_compiled", 2),  # the kernel claims full marks
            _grade_cell("pooling_tradeoff", 8),
            _grade_cell("shift_probe", 4, _error("NameError", "name 'relative_change' ...")),
            _grade_cell("feature_extractor", 4),  # ran cleanly, left no artifact
            _grade_cell("not_a_hidden_check", 3, _stdout("untouched\n")),
        ]
    )


def _verifier_result() -> dict[str, Verdict]:
    return {
        "conv_model_architecture": _report("conv_model_architecture", True).verdict(True),
        "conv_model_compiled": _report("conv_model_compiled", False).verdict(True),
        "pooling_tradeoff": _report("pooling_tradeoff", True, False).verdict(False),
        "shift_probe": hidden.judge("shift_probe", None, Path("x"))[0].verdict(True, ran=False),
    }


def test_each_cell_says_its_verdict_and_nbgrader_reads_its_points():
    nb = _graded_notebook()
    cells = VerifyOutsideKernel(config=Config()).apply_verdicts(nb, _verifier_result(), "")

    grades = {gid: utils.determine_grade(_cell(nb, gid))[0] for gid in cells}
    assert grades == {
        "conv_model_architecture": 8,
        "conv_model_compiled": 0,
        "pooling_tradeoff": 4.0,
        "shift_probe": 0,
        "feature_extractor": 0,
    }
    assert {gid: c.verdict.points for gid, c in cells.items()} == grades
    assert cells["conv_model_compiled"].kernel_points == 2  # what the kernel's outputs said

    architecture = _cell(nb, "conv_model_architecture").outputs
    assert architecture[0].text == "model built\n"  # the visible part's print stays
    assert architecture[1].text.startswith("Graded outside your notebook:\n")
    assert len(architecture) == 2
    compiled = _cell(nb, "conv_model_compiled").outputs[-1]
    assert (compiled.output_type, compiled.ename, compiled.evalue) == (
        "error",
        "CheckFailed",
        "item 0",
    )
    shift = _cell(nb, "shift_probe").outputs[-1]
    assert "the cell stopped first: NameError" in shift.evalue
    assert "notebook replaced it" in _cell(nb, "feature_extractor").outputs[-1].evalue
    assert _cell(nb, "not_a_hidden_check").outputs == [_stdout("untouched\n")]


def test_a_failed_verifier_gives_every_cell_zero_and_says_so():
    nb = _graded_notebook()
    cells = VerifyOutsideKernel(config=Config()).apply_verdicts(nb, {}, "exit 1: boom")
    assert {c.verdict.points for c in cells.values()} == {0.0}
    for grade_id in cells:
        assert "could not verify this cell (exit 1: boom)" in _cell(nb, grade_id).outputs[-1].evalue


def test_malformed_verifier_output_is_a_problem_not_a_crash():
    assert nbgrader_plugins._parsed({"shift_probe": {"points": 1}}, "") == (
        {},
        "the verifier's output is not a verdict (KeyError)",
    )
    good = {"shift_probe": _report("shift_probe", True).verdict(True).to_json()}
    verdicts, problem = nbgrader_plugins._parsed(good, "")
    assert problem == "" and verdicts["shift_probe"].passed


def _plain_verifier() -> VerifyOutsideKernel:
    config = Config()
    config.Sandbox.enabled = False  # the sandbox itself: tests/test_sandbox.py
    return VerifyOutsideKernel(config=config)


@pytest.mark.process
@pytest.mark.parametrize("what", ["kept", "replaced", "died"])
def test_a_verifier_started_ahead_judges_the_folder_after_the_kernel(tmp_path, what):
    """Started before the kernel (its TensorFlow loads meanwhile), it judges what is in the
    folder after `go`; a folder the notebook replaced, or a verifier that ended before `go`,
    gets a fresh verifier."""
    plugin, grading = _plain_verifier(), tmp_path / "_grading"
    ahead = plugin.start_ahead(grading)
    assert ahead is not None and grading.is_dir() and not any(grading.iterdir())
    if what == "replaced":
        shutil.rmtree(grading)
        grading.mkdir()
    if what == "died":
        ahead.started.proc.kill()
        ahead.started.proc.wait()
    wrong = 0.5 if what == "replaced" else 0.0
    artifacts.write("shift_probe", {"value": _relative_change() + wrong}, grading)
    results, problem = plugin._verify(grading, ahead)
    assert problem == "" and results["shift_probe"]["points"] == (0.0 if wrong else 4)
    assert ahead.started.proc.returncode is not None  # finished, or cancelled and replaced


def test_a_verifier_started_ahead_of_a_notebook_that_saved_nothing_is_stopped(tmp_path):
    plugin, grading = _plain_verifier(), tmp_path / "_grading"
    ahead = plugin.start_ahead(grading)
    assert plugin._verify(grading, ahead) == ({}, "")
    assert ahead.started.proc.returncode is not None


def test_preprocess_runs_applies_and_records(tmp_path):
    """No _grading folder: the verifier is not started and every check is 'not run'."""
    config = Config()
    config.CourseDirectory.root = str(tmp_path / "course")
    submission = tmp_path / "course" / "autograded" / "ann" / "lab"
    submission.mkdir(parents=True)
    nb = _graded_notebook()
    resources = {
        "metadata": {"path": str(submission)},
        "nbgrader": {"student": "ann", "assignment": "lab", "notebook": "lab"},
    }
    VerifyOutsideKernel(config=config).preprocess(nb, resources)
    assert "did not run" in _cell(nb, "shift_probe").outputs[-1].evalue
    record = integrity.record(tmp_path / "course", "ann", "lab")
    assert record == json.loads((tmp_path / "course/reports/integrity/lab/ann.json").read_text())
    assert record["checks"]["conv_model_architecture"] == {
        "kernel": 8,
        "verified": 0.0,
        "max": 8,
        "deferred": False,
    }
    assert "conv_model_architecture: the notebook's kernel reported 8 points" in record["flags"][0]


# -- RestoreDeletedCells ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def _source_gradebook(tmp_path_factory) -> Path:
    """A release: an answer cell, a locked training cell, then a test cell after it."""
    folder = tmp_path_factory.mktemp("gradebook")
    with pytest.MonkeyPatch.context() as mp:
        # nbgrader's Gradebook runs `alembic` by name to create the database.
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        with gradebook.open_gradebook(folder, f"sqlite:///{folder}/gradebook.db") as gb:
            gb.add_assignment("lab")
            gb.add_notebook("lab", "lab")
            for name, locked, source in (
                ("answer", False, "def f(): ..."),
                ("training", True, "train()"),
                ("accuracy", True, 'grade("accuracy", globals())'),
            ):
                gb.add_source_cell(
                    name, "lab", "lab", cell_type="code", locked=locked, source=source
                )
            gb.add_solution_cell("answer", "lab", "lab")
            gb.add_grade_cell("answer", "lab", "lab", max_score=2, cell_type="code")
            gb.add_grade_cell("accuracy", "lab", "lab", max_score=15, cell_type="code")
    return folder / "gradebook.db"


@pytest.fixture
def gradebook_with_source(_source_gradebook, tmp_path):
    shutil.copy(_source_gradebook, tmp_path / "gradebook.db")
    with gradebook.open_gradebook(tmp_path, f"sqlite:///{tmp_path}/gradebook.db") as gb:
        yield gb


def _submission_without_test_cell():
    answer = _grade_cell("answer", 2, locked=False)
    answer.metadata["nbgrader"]["solution"] = True
    return new_notebook(cells=[answer, _locked_cell("training", "train()"), new_code_cell("y")])


def _restorer(gb, cls=RestoreDeletedCells):
    restorer = cls(config=Config())
    restorer.gradebook, restorer.notebook_id, restorer.assignment_id = gb, "lab", "lab"
    return restorer


@pytest.mark.process
def test_nbgrader_alone_crashes_when_a_locked_cell_precedes_the_deleted_one(
    gradebook_with_source,
):
    """Why RestoreDeletedCells exists: nbgrader 0.9.6 looks the previous cell up among grade
    and solution cells only. If this starts passing, nbgrader fixed it."""
    with pytest.raises(KeyError):
        _restorer(gradebook_with_source, OverwriteCells).add_missing_grade_cells(
            _submission_without_test_cell(), {}
        )


def test_a_deleted_test_cell_comes_back_after_the_nearest_earlier_cell(gradebook_with_source):
    nb = _submission_without_test_cell()
    nb, _ = _restorer(gradebook_with_source).add_missing_grade_cells(nb, {})
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids == ["answer", "training", "accuracy", None]
    restored = nb.cells[2]
    assert restored.metadata["nbgrader"]["points"] == 15
    assert restored.source.startswith("# This cell (id:accuracy) was missing")
    assert restored.source.endswith('grade("accuracy", globals())')


def test_a_deleted_first_cell_comes_back_first(gradebook_with_source):
    nb = _submission_without_test_cell()
    del nb.cells[0]
    nb.cells.insert(0, _grade_cell("accuracy", 15))
    nb, _ = _restorer(gradebook_with_source).add_missing_grade_cells(nb, {})
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids == ["answer", "accuracy", "training", None]
    assert nb.cells[0].metadata["nbgrader"]["solution"] is True


def test_nothing_deleted_nothing_added(gradebook_with_source):
    nb = _submission_without_test_cell()
    nb.cells.insert(2, _grade_cell("accuracy", 15))
    before = copy.deepcopy(nb)
    nb, _ = _restorer(gradebook_with_source).add_missing_grade_cells(nb, {})
    assert nb == before


# -- course.integrity -------------------------------------------------------------------------


def _graded(kernel, verified, grade_id="conv_model_compiled", max_points=5):
    verdict = Verdict(verified, max_points, True, True, f"{grade_id}: ...", [])
    return integrity.Graded(kernel, max_points, verdict)


def test_compute_flags_a_kernel_that_claimed_points_the_grader_did_not_give():
    record = integrity.compute(
        "ann",
        "lab",
        {
            "conv_model_compiled": _graded(5, 0.0),
            "shift_probe": _graded(5, 5, "shift_probe"),
            "predict_output_shapes": _graded(None, 0.0, "predict_output_shapes", 10),
            "conv_test_accuracy": _graded(None, 15, "conv_test_accuracy", 15),  # deferred
        },
    )
    assert record["student"] == "ann" and record["assignment"] == "lab"
    assert record["flags"] == [
        "conv_model_compiled: the notebook's kernel reported 5 points, the grader verified 0"
    ]
    assert record["checks"]["conv_test_accuracy"]["deferred"] is True
    assert "verifier_error" not in record


@pytest.mark.parametrize(
    "declared, model_id",
    [
        (None, "ann"),  # STUDENT_ID left `...`: the grading student's model
        ("ANN", "ann"),  # another case: the same student, no flag
        ("ａｎｎ ", "ann"),  # full-width letters and a space (NFKC, stripped)
        ("Bo", "ann"),  # another enrolled student's id, in any case: the copy flag
        ("Ann Smith", "Ann Smith"),  # no student's id (a full name): the model it showed
    ],
)
def test_part4_is_judged_on_the_model_the_student_was_shown_unless_it_is_a_classmates(
    declared, model_id
):
    assert integrity.part4_model_id("ann", declared, {"ann", "bo", "cy"}) == model_id
    assert integrity.part4_model_id("ann", declared, None) == "ann"  # no roster: as before


def test_a_declared_id_that_is_no_students_is_a_neutral_note_not_a_copy_flag():
    cells = {"predict_param_counts": _graded(8, 8.0, "predict_param_counts", 8)}
    record = integrity.compute("ann", "lab", cells, declared_id="Ann Smith", model_id="Ann Smith")
    assert record["flags"] == []  # the kernel and the verifier judged the same model
    assert record["checks"]["predict_param_counts"]["deferred"] is False
    assert record["model_id"] == "Ann Smith"
    assert "no enrolled student's" in record["notes"][0]
    assert "cop" not in record["notes"][0]  # no accusation
    same = integrity.compute("ann", "lab", cells, declared_id="ANN", model_id="ann")
    assert same["flags"] == [] and "notes" not in same


def test_compute_flags_a_notebook_written_for_another_students_model(tmp_path):
    """Its kernel judged Part 4 on the notebook's own STUDENT_ID, the verifier on the grading
    student's: that difference is the copy flag, not a kernel claiming points."""
    from course.nbgrader_plugins import declared_id

    cells = {"predict_param_counts": _graded(8, 0.0, "predict_param_counts", 8)}
    record = integrity.compute("bo", "lab", cells, declared_id="ann")
    assert record["declared_id"] == "ann"
    assert record["flags"] == [
        "STUDENT_ID 'ann': this notebook was written for another student's model (copied or "
        "handed in under a second id?); Part 4 was graded on this student's own model"
    ]
    assert integrity.compute("ann", "lab", cells, declared_id="ann")["flags"] == [
        "predict_param_counts: the notebook's kernel reported 8 points, the grader verified 0"
    ]
    # the id is read from the submission's own artifact: a regular, small file, or nothing
    grading = tmp_path / "_grading"
    grading.mkdir()
    assert declared_id(grading) is None
    (grading / "weight_sharing.json").write_text('{"answers": [1], "declared_id": "ann"}')
    assert declared_id(grading) == "ann"
    (grading / "weight_sharing.json").write_text("x" * (2**20 + 1))
    assert declared_id(grading) is None


def test_compute_flags_a_failed_verifier():
    record = integrity.compute("ann", "lab", {}, "exit 1: boom")
    assert record["verifier_error"] == "exit 1: boom"
    assert record["flags"] == ["the verifier failed: exit 1: boom"]


def test_records_are_kept_per_assignment(tmp_path):
    first = integrity.compute("ann", "lab", {"conv_model_compiled": _graded(5, 5)})
    second = integrity.compute("ann", "lab2", {"conv_model_compiled": _graded(5, 0.0)})
    assert integrity.write(tmp_path, first) == tmp_path / "reports/integrity/lab/ann.json"
    integrity.write(tmp_path, second)
    assert integrity.record(tmp_path, "ann", "lab") == first
    assert integrity.record(tmp_path, "ann", "lab2") == second
    assert integrity.record(tmp_path, "bob", "lab") is None
    assert integrity.flags(tmp_path, "bob", {}, "lab") == []


def test_an_old_record_without_assignment_is_still_read(tmp_path):
    old = integrity.compute("ann", "lab", {"conv_model_compiled": _graded(5, 0.0)})
    del old["assignment"]
    legacy = tmp_path / "reports" / "integrity" / "ann.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps(old))
    assert integrity.record(tmp_path, "ann", "lab") == old
    assert integrity.flags(tmp_path, "ann", {}, "lab") == ["integrity: " + old["flags"][0]]


def test_flags_compare_the_gradebook_with_the_verified_points(tmp_path):
    integrity.write(
        tmp_path,
        integrity.compute(
            "ann",
            "lab",
            {"conv_model_compiled": _graded(0, 0.0), "shift_probe": _graded(5, 5, "shift_probe")},
        ),
    )
    recorded = {"conv_model_compiled": 5.0, "shift_probe": 5.0, "concept_questions": None}
    assert integrity.flags(tmp_path, "ann", recorded, "lab") == [
        "integrity: the gradebook holds 5 points for conv_model_compiled, the grader verified 0"
    ]
    assert integrity.flags(tmp_path, "ann", {"conv_model_compiled": 0.0}, "lab") == []


@pytest.fixture
def released(tmp_path):
    nb = new_notebook(
        cells=[
            _locked_cell("imports", "import numpy as np"),
            new_code_cell("# YOUR CODE HERE"),
            _locked_cell("train_conv_model", "conv_model.fit(x, y)"),
            _grade_cell("shift_probe", 5),
        ]
    )
    path = tmp_path / "release" / "lab" / "lab.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return nb


def _submit(course: Path, student: str, nb) -> None:
    path = course / "submitted" / student / "lab" / "lab.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_released_locked_cells_are_read_from_the_release(tmp_path, released):
    assert integrity.released_locked_cells(Layout(tmp_path, "lab")) == {
        "imports": "import numpy as np",
        "train_conv_model": "conv_model.fit(x, y)",
        "shift_probe": 'grade("shift_probe", globals())',
    }


def test_edited_and_deleted_locked_cells_are_tampering(tmp_path, released):
    locked = integrity.released_locked_cells(Layout(tmp_path, "lab"))
    _submit(tmp_path, "honest", released)
    tampered = copy.deepcopy(released)
    tampered.cells[2].source = "conv_model.fit(x_test, y_test)"
    del tampered.cells[3]
    _submit(tmp_path, "cheat", tampered)
    assert integrity.tampering(Layout(tmp_path, "lab"), "honest", locked) == []
    assert integrity.tampering(Layout(tmp_path, "lab"), "cheat", locked) == [
        "tampering: edited locked cells train_conv_model",
        "tampering: deleted locked cells shift_probe",
    ]


def test_an_unreadable_submission_is_flagged(tmp_path, released):
    locked = integrity.released_locked_cells(Layout(tmp_path, "lab"))
    broken = tmp_path / "submitted" / "broken" / "lab" / "lab.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not a notebook")
    assert integrity.tampering(Layout(tmp_path, "lab"), "broken", locked)[0].startswith(
        "submitted notebook unreadable"
    )
    assert integrity.tampering(Layout(tmp_path, "lab"), "absent", locked) == [
        "submitted notebook unreadable (FileNotFoundError)"
    ]


def test_readings_come_only_from_the_locked_provided_cells_last_one_winning():
    mime = public_checks().READINGS_MIME

    def cell(grade_id, *values, locked=True, solution=False):
        outputs = [new_output("display_data", data={"text/plain": "", mime: v}) for v in values]
        c = new_code_cell("...", outputs=outputs)
        c.metadata["nbgrader"] = {"grade_id": grade_id, "locked": locked, "solution": solution,
                                  "grade": False}  # fmt: skip
        return c

    nb = new_notebook(cells=[
        cell("train_conv_model", {"conv_test_acc": 0.88}, {"conv_test_acc": 0.89}),
        cell("run_shift_probe", {"shift_results": {"conv2": {"1": 0.5}}}),
        # an answer cell, and a provided cell whose lock was removed: neither counts
        cell("shift_reading_answer", {"shift_results": "fake"}, locked=False, solution=True),
        cell("per_class_accuracy", {"per_class": "fake"}, locked=False),
    ])  # fmt: skip
    assert nbgrader_plugins.recorded_readings(nb) == {
        "conv_test_acc": 0.89,
        "shift_results": {"conv2": {"1": 0.5}},
    }


LOADED = (
    "import sys{skip}\nimport keras\n"
    "print(sorted(n for n in ('matplotlib.pyplot', 'sklearn') if sys.modules.get(n)))"
)


@pytest.mark.process
@pytest.mark.parametrize(
    "judge, loaded",
    [
        ("graders.verify, graders.evaluate_model", "[]"),
        # the same interpreter without the skip: Keras does import both (the check can fail)
        (None, "['matplotlib.pyplot', 'sklearn']"),
    ],
)
def test_judging_processes_import_keras_without_plotting_or_scikit_learn(judge, loaded):
    """0.4 + 0.35 s of CPU per student saved in the verifier and the evaluation child; a
    student's kernel is not touched (it may plot or use scikit-learn)."""
    import subprocess

    code = LOADED.format(skip=f"\nimport {judge}" if judge else "")
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True, text=True, timeout=300, cwd="/",
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == loaded


# -- evaluation: what the grader measures outside the notebook --------------------------------


def _saved(tmp_path, padding: str | None) -> str:
    import keras

    L = keras.layers
    if padding is None:  # the dense baseline: Part 5 refuses to train it
        layers = [L.Flatten(), L.Dense(128, activation="relu")]
    else:
        conv = {"activation": "relu", "padding": padding}
        layers = [L.Conv2D(32, 3, **conv), L.MaxPooling2D(2), L.Conv2D(32, 3, **conv)]
        layers += [L.MaxPooling2D(2), L.Flatten(), L.Dense(128, activation="relu")]
    model = keras.Sequential([keras.Input((28, 28, 1)), *layers, L.Dense(10, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "conv_model.keras"
    with public_checks().quiet():  # Keras's own NumPy 2 deprecation notice while saving
        model.save(path)
    return str(path)


@pytest.mark.parametrize("padding", [None, "same"], ids=["dense_refused", "same_trained"])
def test_a_model_part_5_refuses_is_judged_without_70000_predictions(tmp_path, monkeypatch, padding):
    """Only a model Part 5 trains is evaluated: the data is never read for a refused one."""
    from graders import data, evaluate_model

    def no_data(split, directory=None):
        raise data.DataError(f"the {split} split was asked for")

    monkeypatch.setattr(data, "load_split", no_data)
    result = evaluate_model.evaluate(_saved(tmp_path, padding))
    passed, message = accuracy.judge(accuracy._result(result))
    assert not passed
    if padding is None:
        assert result["architecture_problems"] and not result["trainable"]
        assert "accuracy" not in result and result["evaluation"].startswith("not needed")
        assert message.startswith("test accuracy is graded for the lab's model or a near miss")
    else:  # a near miss is judged on its own run, so its test images are read
        assert (
            message
            == "the grader could not load the official test set: the test split was asked for"
        )
