"""Which submissions share more than independent work would: evidence for a person to look at.

Read from what the grader already has -- the submitted notebooks (nothing is executed: code is
lexed, answers are read with ``ast``) and, when given, the gradebook's score per grade id --
and compared pair by pair through five channels:

code
    every solution cell (nbgrader ``solution: true``) minus the lines of the released template,
    as Python tokens with the student's own names and every literal normalised (a renamed,
    reformatted copy still matches), cut into k-token fingerprints. A fingerprint that the
    instructor's solution has, or that more than ``RARE_SHARE`` of the class has, counts for
    nothing: the lab's model is ten lines everybody writes alike. Of the rest, a pair counts
    those in runs of ``MIN_RUN`` or more (a copied block, not one line written alike), each
    ``2 / k`` when ``k`` students have it.
answers
    the values assigned to the template's answer names; two students with the same value
    count ``2 / k`` (``k`` students wrote it), nothing when more than ``ANSWER_MAX_HOLDERS``
    students (or more than ``COMMON_ANSWER`` of those who answered) wrote it or when it is
    right for both (full marks on the grade ids that check it), half when the grades do not
    say. A Part 4 answer is judged on each student's own model, so one value can be right for
    one student and wrong for another: the likely source and the copier of that pair.
written
    the free-text answer (cell ``explain_accuracy_gain_answer``) as 3-word shingles, minus
    the shingles of the release's own text, compared by weighted Jaccard.
student id
    two notebooks declaring the same ``STUDENT_ID`` (or one declaring the other's id).
outputs
    identical saved outputs that carry a timing (a training log): no two runs print those.

A pair's score is the sum of its channels' points; pairs above ``REPORT_MIN`` are ranked,
and joined into clusters (connected components: a copy ring is one group, listed once with its
members and its pairs). The report never changes a grade (docs/similarity.md).

    python -m course.similarity [--course DIR] [--assignment NAME]

Modules: rules (the numbers), lexing (tokens), answers (values read with ast), reading (a
submission and the release's template), pairs (channels, scores, clusters), report (HTML,
markdown, the command). The names below are what the course's other tools use.
"""

from __future__ import annotations

from course.similarity.answers import Answer, answer_of, answer_of_value, assignments
from course.similarity.lexing import tokens
from course.similarity.pairs import Pair, Result, analyse, compare
from course.similarity.reading import (
    Submission,
    Template,
    as_option,
    grades_by_reference,
    load_template,
    option_label,
    read_class,
    read_notebook,
    reference_answers,
    solution_fingerprints,
)
from course.similarity.report import (
    main,
    render_html,
    render_markdown,
    report_path,
    summary_rows,
    write_report,
)
from course.similarity.rules import (
    ANSWER_MAX_HOLDERS,
    CODE_POINTS_MAX,
    REPORT_MIN,
    TOP_PAIRS,
    UNKNOWN_ANSWER,
    WRITTEN_ANSWER_ID,
    WRITTEN_TASK,
)

__all__ = [
    "ANSWER_MAX_HOLDERS", "CODE_POINTS_MAX", "REPORT_MIN", "TOP_PAIRS", "UNKNOWN_ANSWER",
    "WRITTEN_ANSWER_ID", "WRITTEN_TASK", "Answer", "Pair", "Result", "Submission", "Template",
    "analyse", "answer_of", "answer_of_value", "as_option", "assignments", "compare",
    "grades_by_reference", "load_template", "main", "option_label", "read_class",
    "read_notebook", "reference_answers", "render_html", "render_markdown", "report_path",
    "solution_fingerprints", "summary_rows", "tokens", "write_report",
]  # fmt: skip
