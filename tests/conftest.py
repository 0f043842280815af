"""Shared fixtures. The expensive one, ``graded_class``, grades the whole sample class with
real nbgrader in a temporary course folder once per test session; many tests read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from course import runner, sample_class
from graders import ASSIGNMENT

make_course = runner.make_course


def nbgrader_ok(course: Path, *args: str):
    done = runner.nbgrader(course, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@dataclass
class GradedClass:
    course: Path
    runs: dict[str, runner.GradingRun]

    def autograded(self, student: str) -> Path:
        return self.course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

    def feedback(self, student: str) -> Path:
        return self.course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"

    def grading_dir(self, student: str) -> Path:
        return self.autograded(student).parent / "_grading"


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> GradedClass:
    """generate_assignment -> submitted/ -> autograde (one process per student) ->
    generate_feedback -> export, on the whole sample class."""
    course = make_course(tmp_path_factory.mktemp("course"))
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT)
    names = sample_class.write_class(course, release_root=course)
    runs = runner.grade_class(course, names, progress=lambda line: print(line, flush=True))
    nbgrader_ok(course, "generate_feedback", ASSIGNMENT)
    nbgrader_ok(course, "export", "--to", str(course / "grades.csv"))
    return GradedClass(course, {r.student: r for r in runs})
