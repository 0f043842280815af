"""The TA summary's rendering, without grading: hand-built `collect()` data rendered and
compared byte for byte with stored expected files (tests/fixtures/golden/).

The golden files were written by the string-concatenation renderer the template replaced.
A deliberate change of the page: rerun with C1W3_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from course import audit, summary

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
GRADE_IDS = [
    "conv_model_architecture",
    "conv_model_compiled",
    "predict_output_shapes",
    "conv_test_accuracy",
    summary.MANUAL_TASK,
]


def _row(student, auto, total, graded=True):
    return {
        "student": student,
        "graded": graded,
        "auto": auto,
        "max_auto": 90.0,
        "total": total,
        "max": 100.0,
        "scores": {},  # render() does not read it
    }


def class_data() -> dict:
    """Four students: full marks, not graded (with the runner's reason), flagged (tampering
    and a timeout), and one who left the written answer unchanged."""
    return {
        "rows": [
            _row("ada", 90.0, 100.0),
            _row("bob", 0.0, 0.0, graded=False),
            _row("cyd", 42.5, 42.5),
            _row("dee", 75.0, 75.0),
        ],
        "grade_ids": GRADE_IDS,
        "passed": Counter(
            {
                "conv_model_architecture": 3,
                "conv_model_compiled": 3,
                "predict_output_shapes": 2,
                "conv_test_accuracy": 1,
                summary.MANUAL_TASK: 1,
            }
        ),
        "failures": Counter(
            {
                "AssertionError: test accuracy 0.84 is below 0.88": 2,
                "CellTimeoutError: A cell timed out while it was being executed": 1,
            }
        ),
        "flagged": {
            "dee": [
                "no written answer (the free-text cell is unchanged)",
                "the cache audit trained this submission for real and it gave another result "
                f"({audit.WEIGHTS_DIFFER}): graded on the real training",
            ],
            "bob": ["not graded: kernel died (memory limit)"],
            "cyd": [
                "tampering: edited locked cells conv_model_compiled",
                "timeout in conv_test_accuracy",
            ],
        },
        "manual": [
            (
                "ada",
                "Pooling keeps the strongest activations.\nFewer parameters, less overfitting.",
            ),
            ("cyd", "Convolutions share weights."),
            ("dee", "(no written answer: the cell still reads 'YOUR ANSWER HERE')"),
        ],
        "cache_audit": summary._audit_view(
            audit.Audit(
                fraction=0.03,
                hits={"ada": ["0123456789ab"], "dee": ["0123456789ab"]},
                audited={"dee": audit.WEIGHTS_DIFFER},
                entries={"0123456789ab": "identical"},
                flagged={"dee": audit.WEIGHTS_DIFFER},
            )
        ),
        "copying": {
            "n": 4,
            "pairs": [
                {
                    "rank": 1,
                    "a": "ada",
                    "b": "dee",
                    "score": 11.0,
                    "reasons": [
                        "dee's notebook declares ada's STUDENT_ID",
                        "50 rare code fingerprints shared (in build_conv_model_answer)",
                    ],
                },
                {
                    "rank": 2,
                    "a": "bob",
                    "b": "cyd",
                    "score": 2.0,
                    "reasons": ['same wrong answers: why_five = "d" (nobody else wrote it)'],
                },
            ],
            "listed": 2,
            "skipped": [("eve", "unreadable notebook (NotJSONError)")],
            "notes": ["dee: the notebook declares STUDENT_ID 'ada', the id of ada"],
            "report": "reports/c1w3_convolutions_similarity.html",
        },
        "items": {
            "n": 3,
            "grades": [
                {
                    "grade_id": "conv_model_architecture",
                    "n": 3,
                    "mean": "8/8",
                    "full": "100%",
                    "r": "n/a",
                    "d": "n/a",
                    "flags": "nobody misses it",
                },
                {
                    "grade_id": "conv_test_accuracy",
                    "n": 3,
                    "mean": "3.33/10",
                    "full": "33%",
                    "r": "0.87",
                    "d": "n/a",
                    "flags": "",
                },
            ],
            "answers": [
                {
                    "name": "why_five",
                    "checked_by": "`concept_questions`",
                    "answered": 3,
                    "wrong": '`"d"` (2)',
                    "options": "a 1, b 0, c 0, d 2",
                },
                {
                    "name": "predicted_total",
                    "checked_by": "`predict_output_shapes`, `predict_param_counts`",
                    "answered": 2,
                    "wrong": "none",
                    "options": "",
                },
            ],
            "csv": "reports/c1w3_convolutions_items.csv",
        },
        "late": {
            "due": "2026-03-01 22:59:00 UTC",
            "students": [
                {
                    "student": "cyd",
                    "submitted": "2026-03-02 01:04:00 UTC",
                    "late_by": "2 h 5 min",
                    "penalty": 42.5,
                }
            ],
        },
    }


def empty_data() -> dict:
    return {
        "rows": [],
        "grade_ids": GRADE_IDS,
        "passed": Counter(),
        "failures": Counter(),
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
    assert f"`{summary.MANUAL_TASK}` |" not in text  # graded by hand, not a pass rate
    assert "| cyd | 42.5/90 | 42.5/100 |" in text


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
    items = text.split("## Items")[1].split("## Most common failure")[0]
    assert "| `conv_model_architecture` | 3 | 8/8 | 100% | n/a | n/a | nobody misses it |" in items
    assert '| `why_five` | `concept_questions` | 3 | `"d"` (2) | a 1, b 0, c 0, d 2 |' in items


def test_a_value_with_a_bar_stays_in_its_table_cell():
    data = class_data()
    data["items"]["answers"][0]["wrong"] = "`a | b` (1)"
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
