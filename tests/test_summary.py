"""The TA summary's rendering, without grading: hand-built `collect()` data rendered and
compared byte for byte with stored expected files (tests/fixtures/golden/).

The golden files were written by the string-concatenation renderer the template replaced.
A deliberate change of the page: rerun with C1W3_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from course import summary
from tests.support.summary_data import GRADE_IDS, class_data

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def empty_data() -> dict:
    return {
        "rows": [],
        "grade_ids": GRADE_IDS,
        "failures": {},
        "flagged": {},
        "manual": [],
    }


@pytest.mark.parametrize(
    ("data", "golden"),
    [(class_data, "ta_summary.md"), (empty_data, "ta_summary_empty.md")],
    ids=["class", "no-submissions"],
)
def test_render_matches_the_stored_summary(data, golden):
    text = summary.render(data())
    path = GOLDEN / golden
    if os.environ.get("C1W3_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_flags_and_answers_reach_the_page():
    """The golden file could be regenerated wrong; these lines are what a TA acts on."""
    text = summary.render(class_data())
    assert "4 submissions, 3 graded automatically." in text
    assert (
        "- **cyd**: tampering: edited locked cells conv_model_compiled; "
        "timeout in conv_test_accuracy"
    ) in text
    assert "- **bob**: not graded: kernel died (memory limit)" in text
    assert "> Pooling keeps the strongest activations.\n> Fewer parameters" in text
    assert "| cyd | 42.5 | pending | pending |" in text  # the TA's part is not a 0


def test_copying_and_items_reach_the_page():
    text = summary.render(class_data())
    copying = text.split("## Possible copying")[1].split("## Free-text")[0]
    assert "never changes a grade" in text.split("## Possible copying")[1].splitlines()[0]
    assert (
        "1. **ada** and **dee**, 11.0 points: dee's notebook declares ada's STUDENT_ID; "
        "50 rare code fingerprints shared (in build_conv_model_answer)"
    ) in copying
    assert "`reports/c1w3_convolutions_similarity.html`" in copying
    assert "Not compared: eve: unreadable notebook (NotJSONError)." in copying
    items = text.split("## Items")[1].split("## Points lost")[0]
    assert (
        "| `conv_model_architecture` | 8 | 3/3 (100%) | 8 | 1.00 | n/a (class too small: D not "
        "meaningful) | n/a (not meaningful) | nobody misses it | | |"
    ) in items
    assert (
        '| &nbsp;&nbsp;`why_five`, 3 answered | | | | | | | | `"d"` (2) | a 1, b 0, c 0, d 2 |'
        in (items)
    )


def test_a_value_with_a_bar_stays_in_its_table_cell():
    data = class_data()
    data["items"]["grades"][1]["answers"][0]["wrong"] = "`a | b` (1)"
    text = summary.render(data)
    assert "| `a \\| b` (1) |" in text


def test_sections_without_data_say_so():
    text = summary.render(empty_data())
    assert "No graded submissions." in text.split("## Items")[1]
    assert "No pair shares more than independent work would." in text


def test_late_students_reach_the_page():
    text = summary.render(class_data())
    late = text.split("## Late submissions")[1].split("\n## ")[0]
    assert "Due 2026-03-01 22:59:00 UTC." in late
    assert "| cyd | 2026-03-02 01:04:00 UTC | 2 h 5 min | 42.5 |" in late
    assert "ada" not in late and "dee" not in late
    on_time = class_data()
    on_time["late"]["students"] = []
    assert "None." in summary.render(on_time).split("## Late submissions")[1].split("\n## ")[0]
    assert "No due date in the gradebook" in summary.render(empty_data())


def test_act_first_names_each_kind_of_problem_once_and_fits_in_ten_lines():
    flagged = {
        "bob": ["not graded: kernel died (memory limit)"],
        "cyd": ["tampering: edited locked cells conv_model_compiled", "timeout in shift_probe"],
        "dan": [
            "integrity: shift_probe: the notebook's kernel reported 4 points, the grader verified 0"
        ],  # fmt: skip
        "eve": [
            "integrity: STUDENT_ID 'ada': this notebook was written for another student's "
            "model (copied or handed in under a second id?); ..."
        ],  # fmt: skip
        "gus": ["timeout in shift_probe"],
        "fay": [
            "note: STUDENT_ID 'Fay Smith' is not this student's id and no enrolled "
            "student's: Part 4 was graded on the model that id shows"
        ],  # fmt: skip
    }
    lines = summary.act_first(flagged, [])
    assert lines == [
        "**not graded** (1): bob",
        "**notebook written for another student's id** (1): eve",
        "**locked cells edited (tampering)** (1): cyd",
        "**in-notebook checks disagree with the verifier** (1): dan",
        "**kernel stopped or a cell hit its limit** (1): gus",
    ]  # a neutral note (fay) is no reason to act first; each student once, most serious kind
    ring = [{"a": "p0", "b": f"p{i}"} for i in range(1, 4)]  # one copy ring: one line
    many = [{"a": f"x{i}", "b": f"y{i}"} for i in range(12)]
    lines = summary.act_first(flagged, ring + many)
    assert len(lines) == summary.ACT_FIRST_LINES
    assert lines[5] == "**possible copying**: p0, p1, p2, p3 (similarity report below)"
    assert lines[-1] == "**possible copying**: 9 more groups below"


def test_unanswered_written_answers_are_one_count_not_a_flag_each():
    text = summary.render(class_data())
    assert "no written answer" not in text
    assert "1 student left the written answer (Part 7) unchanged: dee." in text
    assert "### dee" not in text  # no placeholder section to grade


# ------------------------------------------------------------------ one items table


def test_one_items_table_holds_every_figure_once():
    """The pass rate, mean, difficulty, D, r, flags, wrong answers and options are one table:
    no second table repeats a grade id."""
    text = summary.render(class_data())
    assert "Pass rate" not in text
    items = text.split("## Items")[1].split("\n## ")[0]
    assert len([line for line in items.splitlines() if line.startswith("|---")]) == 1
    for gid in ("conv_model_architecture", "concept_questions", "conv_test_accuracy"):
        assert text.count(f"| `{gid}` |") == 1, gid
    row = next(line for line in items.splitlines() if line.startswith("| `conv_test_accuracy`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["`conv_test_accuracy`", "10", "1/3 (33%)", "3.33", "0.33"]
    assert cells[5].startswith("n/a (class too small") and cells[6].startswith("0.87")
    assert "| wrong answers (judged) | options chosen |" in items


# ------------------------------------------------------------------ one set of totals


def test_every_score_says_which_total_it_is_out_of():
    """Automatic of 90, the TA's part of 10, the total of 100: never X/100 beside X/90."""
    text = summary.render(class_data())
    assert not re.search(r"\d/(90|100)\b", text), re.findall(r"\S+/(?:90|100)\b", text)
    assert "## Automatic points (out of 90, graded submissions)" in text
    assert "| student | automatic (of 90) | Part 7, TA (of 10) | total (of 100) |" in text
    assert "| ada | 90 | 10 | 100 |" in text  # 90 + 10
    assert "| cyd | 42.5 | pending | pending |" in text  # no total before the TA's part
    assert "| bob | not graded | - | - |" in text
    assert "90 automatic (Parts 3-6, judged by the verifier) + 10 by a TA (Part 7" in text
    # the histogram counts graded submissions: bob, not graded, is no 0
    histogram = text.split("## Automatic points")[1].split("```")[1]
    assert "  0-  9 |\n" in histogram


# ------------------------------------------------------------------ failures by cause


def _cell(source, gid, *, solution=False, grade=False, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": gid, "solution": solution, "grade": grade}
    cell.outputs = list(outputs)
    return cell


def _graded(gid, *, failures=(), stopped_by=None):
    """A grade cell as the verifier leaves it (course.nbgrader_plugins._outputs)."""
    from course.nbgrader_plugins import _outputs
    from graders.hidden import POINTS
    from graders.report import Report

    report = Report(gid, POINTS[gid])
    for message in failures:
        report.item(False, message)
    verdict = report.verdict(all_or_nothing=not failures)
    if stopped_by:
        verdict = verdict.not_run(stopped_by)
    return _cell("check(...)", gid, grade=True, outputs=_outputs(verdict))


def _error(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])


def _notebook(untrained: bool, unanswered: bool):
    """A student's autograded notebook: Part 5 trained nothing (the cells after it say so,
    each its own way) and/or the answers left as the release gave them."""
    from graders.hidden import NOT_MEASURED

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("def build_conv_model():\n    ...", "build_conv_model_answer", solution=True),
        _cell("conv_model = build_conv_model()\nconv_test_acc = 0.9", "train_conv_model"),
        _cell(
            "predicted_layers = ...\nraise NotImplementedError()",
            "predictions_answer",
            solution=True,
            outputs=[_error("NotImplementedError", "")] if unanswered else [],
        ),
        _cell("shift_results = probe(conv_model)", "run_shift_probe"),
    ]
    if untrained:
        nb.cells += [
            _graded("conv_test_accuracy", stopped_by="NameError: name 'conv_test_acc' is not "
                    "defined"),
            _graded(
                "conv_vs_dense",
                failures=[
                    NOT_MEASURED.format(what="accuracy gain", cell="Part 5"),
                    NOT_MEASURED.format(what="more parameters", cell="Part 5"),
                ],
            ),
            _graded("shift_reading", stopped_by="NameError: name 'shift_results' is not defined"),
        ]  # fmt: skip
    if unanswered:
        nb.cells += [
            _graded(
                "predict_output_shapes",
                stopped_by="NameError: name 'predicted_layers' is not defined",
            ),
            _graded(
                "concept_questions",
                stopped_by="AnswerFormatError: [receptive_field], entry 1: write a whole number "
                "like 1_024, got Ellipsis",
            ),
            _graded(
                "pooling_tradeoff",
                failures=["shift_kept_by: answer with one of 'conv', 'no_pooling', got Ellipsis"],
            ),
        ]
    nb.cells.append(
        _graded("conclusion", failures=["what made the gain: 'b', convolution ...; you: 'a'"])
    )
    return nb


def test_points_lost_are_grouped_by_cause_not_by_message():
    """Five students whose conv model Part 5 never trained lose three items, each with its
    own message (a NameError, 'measured nothing', another NameError): one line. Answers left
    as `...` are one line whatever check noticed it; no 'got Ellipsis' reaches the page."""
    from graders.hidden import POINTS

    ids = [*POINTS]
    failures = {}
    for i in range(7):
        student = f"s{i}"
        nb = _notebook(untrained=i < 5, unanswered=i >= 3)
        gids = summary._grade_cells(nb)
        scores = {g: (0.0, float(POINTS[g]), False) for g in gids}
        scores["conv_model_architecture"] = (8.0, 8.0, False)  # full marks: not lost
        failures[student] = summary.lost_items(nb, scores)
    causes = summary.failure_causes(failures, ids)
    assert [(c["n"], c["cause"]) for c in causes] == [
        (7, summary.JUDGED_WRONG),
        (5, summary.NOT_TRAINED),
        (4, summary.LEFT_UNANSWERED),
    ]
    trained = causes[1]
    assert trained["lost"] == "`conv_test_accuracy`, `shift_reading`, `conv_vs_dense`"  # id order
    assert trained["students"] == "s0, s1, s2, s3, s4"
    assert causes[2]["lost"] == "`predict_output_shapes`, `pooling_tradeoff`, `concept_questions`"
    data = {**empty_data(), "failures": failures, "grade_ids": ids}
    text = summary.render(data)
    lost = text.split("## Points lost")[1].split("\n## ")[0]
    assert (
        "- 5 students: Part 3/5: the conv model was not trained -> `conv_test_accuracy`, "
        "`shift_reading`, `conv_vs_dense` (s0, s1, s2, s3, s4)"
    ) in lost
    assert "Ellipsis" not in lost and "is not defined" not in lost
    assert len([line for line in lost.splitlines() if line.startswith("- ")]) == 3


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("CellTimeoutError: A cell timed out while it was being executed", summary.STOPPED),
        (
            "the grader's part of this cell did not run (the cell stopped first: CheckFailed: "
            "The shift probe needs the conv model trained in Part 5, and Part 5 did not finish)",
            summary.NOT_TRAINED,
        ),
        (
            "test accuracy is graded for the lab's model or a near miss Part 5 trains, and the "
            "trained model is neither: layer 3: ...",
            summary.NOT_TRAINED,
        ),
        ("build_conv_model() is not written yet (it raises NotImplementedError)",
         summary.LEFT_UNANSWERED),
        ("robust_model: answer with one of 'conv', 'dense', got 'CONV!'", summary.FORMAT),
        ("STUDENT_ID is not set: write your nbgrader student id ...", summary.NO_ID),
        ("the grader could not verify this cell (exit 1: boom)", summary.NOT_VERIFIED),
        ("conv1 (Conv2D) parameters: expected 80, you predicted 72", summary.JUDGED_WRONG),
        (  # a model's first difference is its own cause: students with it are one line
            "CheckFailed: Failed test case: layer 1: expected Conv2D with 32 filters of 3x3, "
            "relu, found Conv2D with 64 filters of 3x3, relu",
            "layer 1: expected Conv2D with 32 filters of 3x3, relu, found Conv2D with 64 "
            "filters of 3x3, relu",
        ),
        ("NameError: name 'mystery' is not defined",
         "`mystery` is not defined (the cell that defines it did not run)"),
    ],
)  # fmt: skip
def test_each_kind_of_message_has_its_cause(message, cause):
    assert summary.failure_cause(message) == cause


def test_a_name_is_traced_to_the_cell_that_should_define_it():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("X_TRAIN = load()", "load_data"),
        _cell("answer = 1 +", "a", solution=True, outputs=[_error("SyntaxError", "bad")]),
        _cell("stage = ...", "b", solution=True, outputs=[_error("CellTimeoutError", "30 s")]),
    ]
    defined = summary.definers(nb)
    assert summary.failure_cause("NameError: name 'answer' is not defined", defined) == (
        "their cell that defines `answer` raised SyntaxError"
    )
    assert summary.failure_cause("stage is not defined: the cell that defines it", defined) == (
        summary.STOPPED
    )
    assert summary.failure_cause("NameError: name 'X_TRAIN' is not defined", defined) == (
        "the provided cell that defines `X_TRAIN` failed"
    )
