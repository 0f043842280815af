"""A small class's TA-summary data: the golden page's input (the TA assistant's tests too)."""

from __future__ import annotations

from course import audit, item_analysis, summary

GRADE_IDS = [
    "conv_model_architecture",
    "conv_model_compiled",
    "predict_output_shapes",
    "conv_test_accuracy",
    "concept_questions",
    summary.MANUAL_TASK,
]


def _row(student, auto, ta=None, graded=True):
    return {
        "student": student,
        "graded": graded,
        "auto": auto,
        "max_auto": 90.0,
        "ta": ta,  # None: the TA's grade is pending
        "max_ta": 10.0,
        "total": auto + (ta or 0.0),
        "max": 100.0,
        "scores": {},  # render() does not read it
    }


def class_items() -> dict:
    """The items table's data as item_analysis.summary_data gives it, from hand-built items."""
    grades = [
        item_analysis.GradeItem(
            "conv_model_architecture", 3, 8.0, 8.0, 1.0, None, None, ["nobody misses it"],
            item_analysis.TOO_SMALL.format(min=item_analysis.MIN_CLASS), full=3,
        ),
        item_analysis.GradeItem(
            "concept_questions", 3, 6.0, 4.0, 1 / 3, 0.5, None, [],
            item_analysis.TOO_SMALL.format(min=item_analysis.MIN_CLASS), full=1,
        ),
        item_analysis.GradeItem(
            "conv_test_accuracy", 3, 10.0, 10 / 3, 1 / 3, 0.87, None, [],
            item_analysis.TOO_SMALL.format(min=item_analysis.MIN_CLASS), full=1,
        ),
    ]  # fmt: skip
    answers = [
        item_analysis.AnswerItem(
            "why_five", ["concept_questions"], 3, [('"d"', 2)], [("a", 1), ("b", 0), ("c", 0),
            ("d", 2)], True,
        ),
        item_analysis.AnswerItem(
            "predicted_total", ["predict_output_shapes", "predict_param_counts"], 2, [], None, True
        ),
    ]  # fmt: skip
    data = item_analysis.summary_data(item_analysis.Analysis(3, grades, answers))
    return {**data, "csv": "reports/c1w3_convolutions_items.csv"}


def class_data() -> dict:
    """Four students: full marks, not graded (with the runner's reason), flagged (tampering
    and a timeout), and one who left the written answer unchanged."""
    return {
        "rows": [
            _row("ada", 90.0, 10.0),
            _row("bob", 0.0, graded=False),
            _row("cyd", 42.5),
            _row("dee", 75.0),
        ],
        "grade_ids": GRADE_IDS,
        "failures": {  # student -> grade id -> cause (summary.lost_items)
            "cyd": {
                "conv_model_compiled": summary.NOT_TRAINED,
                "conv_test_accuracy": summary.STOPPED,
                "predict_output_shapes": summary.LEFT_UNANSWERED,
            },
            "dee": {
                "conv_test_accuracy": "test accuracy 0.84 is below 0.88",
                "predict_output_shapes": summary.LEFT_UNANSWERED,
            },
        },
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
        "items": class_items(),
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
