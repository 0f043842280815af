"""The whole loop with real nbgrader on the sample class: release -> submitted -> autograded
-> feedback -> grades.csv -> TA summary. One grading of the class per session (slow)."""

import csv
import html
import os
import re
import shutil
import subprocess

import nbformat
import pytest
from nbgrader.api import Gradebook

from course import audit, gradebook, summary
from course.context import GradingContext
from graders import ASSIGNMENT, hidden
from scenarios.sample_class import SAMPLE_CLASS

pytestmark = pytest.mark.slow


def scores(url, student):
    with Gradebook(url) as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {g.name: g.score for g in nb.grades if g.name in SAMPLE_CLASS["passes_all"][1]}


def cell_text(path, grade_id):
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            parts = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    parts.append(f"{out['ename']}: {out['evalue']}")
                else:
                    parts.append("".join(out.get("text", "")))
            return "\n".join(parts)
    raise KeyError(grade_id)


GRADABLE = [name for name, (_, expected) in SAMPLE_CLASS.items() if expected is not None]
UNGRADABLE = [name for name in SAMPLE_CLASS if name not in GRADABLE]


@pytest.mark.parametrize("student", GRADABLE)
def test_every_expected_score_exactly(graded_class, student):
    assert graded_class.runs[student].ok, graded_class.runs[student].reason
    expected = SAMPLE_CLASS[student][1]
    got = scores(graded_class.db_url, student)
    assert got == pytest.approx(expected, abs=0.005), {
        k: (got.get(k), v) for k, v in expected.items() if got.get(k) != pytest.approx(v, abs=0.005)
    }


def test_gradebook_and_export_hold_every_student(graded_class):
    with Gradebook(graded_class.db_url) as gb:
        assert sorted(s.id for s in gb.students) == sorted(SAMPLE_CLASS)
        # nbgrader records a submission even for the notebook it cannot read (score 0)
        assert len(gb.find_assignment(ASSIGNMENT).submissions) == len(SAMPLE_CLASS)
    with open(graded_class.course / "grades.csv") as fh:
        rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(fh)}
    assert set(rows) == set(SAMPLE_CLASS)
    assert rows["passes_all"] == 90.0 and rows["untouched_release"] == 0.0
    assert rows["broken_notebook_file"] == 0.0  # a defined grade, not a missing row


@pytest.mark.parametrize("student", UNGRADABLE)
def test_ungradable_submission_is_recorded_with_its_reason(graded_class, student):
    run = graded_class.runs[student]
    assert not run.ok
    assert "JSON" in run.reason or "json" in run.reason, run.reason


def test_grader_measures_accuracy_on_the_official_test_set(graded_class):
    """Monkeypatched evaluate and overwritten test arrays change nothing the grader sees:
    the overwritten-data student's model is the reference's, so the grader reports the
    reference's accuracy to the digit, not the 1.0 the student's notebook printed."""
    reference = cell_text(graded_class.autograded("passes_all"), "conv_test_accuracy")
    accuracy = re.search(r"test accuracy (0\.\d{4}) on the official", reference).group(1)
    overwritten = cell_text(graded_class.autograded("overwritten_test_data"), "conv_test_accuracy")
    assert "Test accuracy measured in this notebook: 1.0" in overwritten
    assert f"test accuracy {accuracy} on the official" in overwritten
    patched = cell_text(graded_class.autograded("monkeypatched_evaluate"), "conv_test_accuracy")
    assert "Test accuracy measured in this notebook: 1.0" in patched
    assert "is below the minimum" in patched


def test_deleted_test_cells_are_restored_and_still_cost_points(graded_class):
    text = cell_text(graded_class.autograded("deleted_test_cells"), "predict_output_shapes")
    assert f"4 of 6 correct -> 2 of {hidden.POINTS['predict_output_shapes']} points" in text


def test_infinite_loop_is_stopped_and_the_rest_is_graded(graded_class):
    notebook = graded_class.autograded("infinite_loop")
    assert "CellTimeoutError" in cell_text(notebook, "concept_answers")
    # A check after the loop that needs none of its answers: judged as usual, full marks.
    later = cell_text(notebook, "shift_probe")
    assert "Graded outside your notebook" in later and "NotRun" not in later, later
    assert SAMPLE_CLASS["infinite_loop"][1]["shift_probe"] > 0


def test_the_cache_audit_retrained_a_hit_and_found_it_identical(graded_class):
    """The batch's audit regraded at least one hit per entry with the cache off (a real
    training, on one process instead of Dask): every weight and optimizer variable of the
    trained model and every score equal the hit's. The warmed entries are the dense and conv
    trainings of the lab's code, and the honest students hit both."""
    result = graded_class.audit
    assert result.hits["passes_all"] and len(result.hits["passes_all"]) == 2
    entries = {key for keys in result.hits.values() for key in keys}
    assert entries <= {p.name[:12] for p in (graded_class.course / ".training_cache").iterdir()}
    assert result.audited and set(result.audited) <= set(result.hits)
    covered = {key for student in result.audited for key in result.hits[student]}
    assert covered == entries  # every entry the batch relied on was retrained
    assert result.audited == dict.fromkeys(result.audited, "identical"), result.audited
    assert not result.disabled and result.regraded == []
    for student in result.audited:  # its notebook now shows the real training, no hit
        assert audit.hit_keys(graded_class.grading_dir(student)) == []


def feedback_html(graded_class, student):
    return graded_class.feedback(student).read_text()


def feedback_text(graded_class, student):
    """The feedback page's text, as a reader sees it (tags and highlighting spans removed)."""
    return html.unescape(re.sub(r"<[^>]+>", "", feedback_html(graded_class, student)))


@pytest.mark.parametrize("student", GRADABLE)
def test_feedback_never_shows_hidden_tests_or_the_mark_scheme(graded_class, student):
    text = feedback_text(graded_class, student)
    for secret in ("BEGIN HIDDEN TESTS", "graders", "grade(", "MARK SCHEME", "Award up to 10"):
        assert secret not in text, (student, secret)


@pytest.mark.parametrize("student", GRADABLE)
def test_feedback_starts_with_what_to_fix_and_never_mentions_the_training_cache(
    graded_class, student
):
    """The box above the notebook names every item that lost points, each linked to its
    cell; nothing on the page speaks of the grader's training cache."""
    text = feedback_text(graded_class, student)
    assert "training cache" not in text.lower(), student
    box = text.split("What to fix first", 1)[1].split("Automatic points", 1)[1]
    box = box.split("YOUR ANSWER HERE")[0][:6000]
    graded = nbformat.read(graded_class.autograded(student), as_version=4)
    html_page = feedback_html(graded_class, student)
    for cell in summary._grade_cells(graded).values():
        gid = cell.metadata["nbgrader"]["grade_id"]
        points = cell.metadata["nbgrader"].get("points", 0)
        score = next(
            (float(o["data"]["text/plain"]) for o in cell.outputs if o.get("output_type")
             == "execute_result"), None,
        )  # fmt: skip
        failed = any(o.get("output_type") == "error" for o in cell.outputs)
        if failed or (score is not None and score < points):
            assert f'href="#{gid}"' in html_page.split("What to fix first", 1)[1], (student, gid)


def test_feedback_shows_messages_and_the_students_answers(graded_class):
    text = feedback_text(graded_class, "filters_64")
    assert "found Conv2D with 64 filters of 3x3" in text
    assert "Conv2D(64," in text  # the student's own code
    text = feedback_text(graded_class, "wrong_predictions")
    assert "conv1 (Conv2D) parameters: expected 80, you predicted 72" in text
    assert "k * k * c * layer" in text  # the student's own code, its slip (no bias) included


def test_a_near_miss_is_trained_and_judged_on_its_own_run(graded_class):
    """padding="same": only the architecture item is lost; the accuracy and the readings are
    judged on the run of the model as written, and the page says so."""
    text = feedback_text(graded_class, "padding_same")
    assert "found padding='same'" in text
    assert "It trains as you wrote it" in text  # Part 5's note
    assert "judged on its own run: test accuracy" in text
    assert "not graded, your notebook measured nothing" not in text


def test_feedback_messages_are_visible_in_a_real_browser(graded_class, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is required (installed by .ci/run and `make setup`)")
    page = graded_class.feedback("filters_64")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    dom = done.stdout
    assert "found Conv2D with 64 filters of 3x3" in dom, done.stderr[-2000:]
    text = re.sub(r"<[^>]+>", "", dom)  # what a reader sees, tags removed
    assert "conv_model_architecture" in text and "found Conv2D with 64 filters" in text
    assert "BEGIN HIDDEN TESTS" not in text


def test_ta_summary(graded_class):
    path = summary.write_summary(GradingContext.of(graded_class.course, db_url=graded_class.db_url))
    text = path.read_text()
    assert f"{len(SAMPLE_CLASS)} submissions, {len(GRADABLE)} graded automatically." in text
    full = sum(
        1
        for _, expected in SAMPLE_CLASS.values()
        if expected
        and expected["conv_model_architecture"]
        == max(e["conv_model_architecture"] for _, e in SAMPLE_CLASS.values() if e)
    )
    assert f"| `conv_model_architecture` | 8 | {full}/{len(GRADABLE)} (" in text
    flagged = text.split("## Flagged submissions")[1].split("## Free-text")[0]
    assert "**infinite_loop**: timeout in concept_answers" in flagged
    assert "**edited_hidden_tests**: tampering: edited locked cells" in flagged
    assert "**deleted_test_cells**: tampering: deleted locked cells" in flagged
    assert "- **passes_all**:" not in flagged and "- **course_input_shape_idiom**:" not in flagged
    # an id typed in capitals is the same student; a full name is a slip, not a copy
    assert "- **id_in_capitals**:" not in flagged
    assert (
        "- **id_is_full_name**: note: STUDENT_ID 'Ida Fullname' is not this student's id and "
        "no enrolled student's" in flagged
    )
    queue = text.split("## Free-text answers to grade by hand")[1]
    # an unanswered free text is one count for the TA, not a flag nor a section to grade
    (line,) = [x for x in flagged.splitlines() if "left the written answer (Part 7) unchanged" in x]
    unanswered = set(line.split(": ", 1)[1].rstrip(".").split(", "))
    assert "untouched_release" in unanswered and "no written answer" not in text
    assert queue.startswith(f" ({len(set(GRADABLE) - unanswered)}, Part 7, out of 10)")
    assert "### untouched_release" not in queue
    # what needs a person first, one line per kind, each student under the most serious one
    act = text.split("## Act first")[1].split("\n## ")[0]
    assert "**not graded** (" in act and "broken_notebook_file" in act
    assert "**notebook written for another student's id** (1): copies_passes_all" in act
    assert "**locked cells edited (tampering)**" in act and "edited_hidden_tests" in act
    assert "**kernel stopped or a cell hit its limit**" in act and "infinite_loop" in act
    assert len([x for x in act.splitlines() if x.startswith("- ")]) <= summary.ACT_FIRST_LINES
    assert "id_is_full_name" not in act and "id_in_capitals" not in act
    assert (
        "**broken_notebook_file**: submitted notebook unreadable (NotJSONError); not graded:"
        in (flagged)
    )
    assert "Half right: pooling does throw detail away" in queue  # SAMPLE_EXPLANATION
    # the notebook handed in under a second id: flagged, and paired with its owner
    assert (
        "**copies_passes_all**: integrity: STUDENT_ID 'passes_all': this notebook was written "
        "for another student's model" in flagged
    )
    assert "**copies_passes_all** and **passes_all**" in text
    assert "found Conv2D with 64 filters of 3x3" in text  # among the common failure messages
    # A renamed upload is graded (90, above) and flagged.
    assert (
        "**week2_spellings_renamed_upload**: graded `c1w3_convolutions (1).ipynb` as "
        "c1w3_convolutions.ipynb" in flagged
    )
    # Points lost are grouped by cause, one line per cause, each student counted once in it
    causes = text.split("## Points lost, by cause")[1].split("\n## ")[0]
    listed = re.findall(r"^- (\d+) students?: (.*) -> (.*) \((.*)\)$", causes, re.MULTILINE)
    assert listed
    by_cause = {cause: names.split(", ") for _, cause, _, names in listed}
    for count, cause, _, names in listed:
        if int(count) <= summary.CAUSE_STUDENTS:
            assert len(names.split(", ")) == int(count), (cause, names)
    # a model Part 5 did not train is one cause, named once, not its symptoms (NameError, `...`)
    untrained = by_cause[summary.NOT_TRAINED]
    assert {"dense_only", "no_pooling", "filters_64"} <= set(untrained)
    assert "padding_same" not in untrained  # a near miss trains: its readings are judged


def test_instructor_can_regrade_one_submission_with_pytest(graded_class):
    """`pytest course/dispute --submission X` grades X for real and reports every check."""
    import sys

    from course.layout import COURSE_ROOT

    notebook = graded_class.course / "submitted" / "dense_only" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    # The class's gradebook is elsewhere (unreachable here): the regrade must not touch it.
    env = {**os.environ, gradebook.ENV: "postgresql://c1w3:x@127.0.0.1:9/the_class"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "course/dispute", "--submission", str(notebook),
         "-p", "no:cacheprovider", "-q"],
        cwd=COURSE_ROOT, capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    # architecture, accuracy and the two readings of a trained model: conv_vs_dense, shift_reading
    assert done.returncode == 1, done.stdout[-3000:]
    assert f"4 failed, {len(hidden.CHECKS) - 4} passed" in done.stdout
    assert (
        "FAILED course/dispute/test_submission.py::test_check[conv_model_architecture]"
        in done.stdout
    )
    assert "found Flatten" in done.stdout
    assert re.search(r"automatic total\s+60\.00 /\s+90", done.stdout), done.stdout[-2000:]
