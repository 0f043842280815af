"""Course folders, nbgrader runs and class gradings shared by the test files."""

from __future__ import annotations

import shutil
from pathlib import Path

from course import cluster, runner
from course.context import GradingContext
from course.layout import COURSE_ROOT
from course.training_cache import DEFAULT_DIRNAME
from graders import ASSIGNMENT

# A test course stops a looping cell at 30 s where production waits 60
# (c.SandboxedExecute.cell_seconds, whose default tests/test_cli.py checks by value): the
# slowest honest cell measured under make test's load took 10.1 s (the setup cell), so 30 s
# leaves 3x, still 1.5x on a machine twice as slow. Training cells keep their own limit.
TEST_CELL_SECONDS = 30


def make_course(root: Path) -> Path:
    """runner.make_course with the tests' cell limit in the course's nbgrader_config.py."""
    runner.make_course(root)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.SandboxedExecute.cell_seconds = {TEST_CELL_SECONDS}  # tests\n")
    return root


CACHE_DIRNAME = DEFAULT_DIRNAME  # the course's .training_cache/


def nbgrader_ok(course: Path, *args: str, db_url: str | None = None):
    done = runner.nbgrader(GradingContext.of(course, db_url=db_url), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def make_warm_course(root: Path, cache: Path) -> Path:
    """A fresh course folder (make_course) holding a copy of the warmed training cache."""
    course = make_course(root)
    shutil.copytree(cache, course / CACHE_DIRNAME)
    return course


def grade_on_dask(course: Path, names, db_url: str) -> dict[str, runner.GradingRun]:
    grading = GradingContext.of(course, db_url=db_url)
    runs = cluster.grade_class_on_dask(grading, names, workers=2, only_missing=False)
    return {r.student: r for r in runs}


SOURCE = COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


RELEASE = COURSE_ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
