"""One test per autograded check of the submission given with --submission (see conftest)."""

import nbformat
import pytest

from course import gradebook
from course.dispute.conftest import REPORT
from course.layout import Layout
from graders import ASSIGNMENT
from graders.registry import POINTS


def _output(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
        elif "text" in out:
            parts.append("".join(out["text"]))
    return "\n".join(parts).strip()


@pytest.mark.parametrize("grade_id", POINTS)
def test_check(graded_submission, grade_id):
    course, student, url = graded_submission
    with gradebook.open_gradebook(course, url) as gb:
        grade = gb.find_grade(grade_id, ASSIGNMENT, ASSIGNMENT, student)
        score, max_score = grade.score, grade.max_score
    notebook = Layout(course).notebook("autograded", student)
    cells = nbformat.read(notebook, as_version=4).cells
    cell = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    output = _output(cell)
    print(output)
    last = output.splitlines()[-1] if output else "(no output)"
    REPORT[grade_id] = (score, max_score, last[:110])
    assert score == max_score, f"{score:g} of {max_score:g} points:\n{output}"
