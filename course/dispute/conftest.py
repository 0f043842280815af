"""``pytest course/dispute --submission path/to/notebook.ipynb``: grade one submission for real and
report every check with its points -- for an instructor looking into a disputed grade.

The submission is autograded by real nbgrader in a temporary course folder (hidden tests
restored, the same check functions the class was graded with), then one test per grade id
reads the result.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from course import gradebook, runner
from course.context import GradingContext
from graders import ASSIGNMENT, SUPPORT_FILES
from graders.registry import POINTS

REPORT: dict[str, tuple[float | None, float, str]] = {}


def pytest_addoption(parser):
    parser.addoption("--submission", type=Path, help="a student's notebook to grade")
    parser.addoption(
        "--student",
        default=None,
        help="student id to grade it under (Part 4 is judged on that student's own model); "
        "default: <student> of a path submitted/<student>/<assignment>/..., else 'disputed'",
    )


def _student_of(path: Path) -> str:
    """The nbgrader student id a submission path names, as collected (submitted/<id>/...)."""
    if path.parent.name == ASSIGNMENT and path.parent.parent.parent.name == "submitted":
        return path.parent.parent.name
    return "disputed"


@pytest.fixture(scope="session")
def graded_submission(request, tmp_path_factory):
    path = request.config.getoption("--submission")
    if path is None:
        pytest.skip("give a notebook: pytest course/dispute --submission path/to/notebook.ipynb")
    if not path.is_file():
        pytest.fail(f"--submission {path}: no such file")
    student = request.config.getoption("--student") or _student_of(path.resolve())
    course = runner.make_course(tmp_path_factory.mktemp("course"))
    # A throwaway gradebook in the throwaway course, whatever C1W3_DB_URL says: looking into
    # one grade must never write to the class's gradebook.
    url = gradebook.default_url(course)
    done = runner.nbgrader(GradingContext.of(course, db_url=url), "generate_assignment", ASSIGNMENT)
    assert done.returncode == 0, done.stderr
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    shutil.copy(path, folder / f"{ASSIGNMENT}.ipynb")
    for support in SUPPORT_FILES:
        shutil.copy(course / "release" / ASSIGNMENT / support, folder)
    run = runner.grade_student(GradingContext.of(course, db_url=url), student)
    if not run.ok:
        pytest.fail(f"the submission could not be graded: {run.reason}")
    return course, student, url


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    write = terminalreporter.write_line
    write("")
    write(f"{'grade id':28s} {'points':>13s}  message")
    total = 0.0
    for grade_id, (score, max_score, message) in REPORT.items():
        total += score or 0
        write(f"{grade_id:28s} {score or 0:6.2f} / {max_score:4g}  {message}")
    write(f"{'automatic total':28s} {total:6.2f} / {sum(POINTS.values()):4g}")
