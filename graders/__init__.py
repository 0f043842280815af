"""Hidden graders for the c1w3_convolutions assignment (never released to students).

Flow: the hidden test cells restored by ``nbgrader autograde`` call :mod:`graders.hidden`;
the points-deciding accuracy check runs in a fresh interpreter (:mod:`graders.evaluate_model`).
Check logic shared with the students' visible checks lives in :mod:`graders.c1w3_core`,
released beside the notebook as ``c1w3_core.py``; the notebook's entry points are the course's
``c1w3_checks.py``, which :func:`public_checks` loads from the course's copy (the course's
configuration names it: :func:`checks_path`), never a submission's own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ASSIGNMENT = "c1w3_convolutions"
CHECKS_FILE = "c1w3_checks.py"
# Released beside the notebook with it: the checking core both share (graders/c1w3_core.py).
SUPPORT_FILES = (CHECKS_FILE, "c1w3_core.py")
# A grading tells the kernel and the verifier where the course's copy is
# (course.nbgrader_plugins.grader_variables, from nbgrader_config.py's CourseDirectory).
CHECKS_ENV = "C1W3_PUBLIC_CHECKS"
_MODULE = "graders._c1w3_checks"
_course_checks = None  # a path, or a function giving it (course/ sets it: course.layout)


def use_checks(where) -> None:
    """The instructor's tools name the course's copy (a path, or a function returning one,
    asked once when the checks are first needed)."""
    global _course_checks
    _course_checks = where


def checks_path() -> Path:
    """The c1w3_checks.py the graders judge with. In a grading's kernel and verifier: the one
    the grading names (``C1W3_PUBLIC_CHECKS``); an autograde kernel told none is refused, so a
    submission's own edited copy is never used. In the instructor's tools (nbgrader's process
    included): the course's (``use_checks``). Otherwise (``nbgrader validate`` or ``make
    warm`` of the source notebook, whose kernel runs in the source folder): the copy beside
    the notebook."""
    named = os.environ.get(CHECKS_ENV)
    where = _course_checks() if callable(_course_checks) else _course_checks
    if named or where:
        path = Path(named or where)
    elif os.environ.get("NBGRADER_EXECUTION") == "autograde":
        raise RuntimeError(
            f"graders: this grading does not name the course's {CHECKS_FILE} ({CHECKS_ENV}); "
            "grade with the course's nbgrader_config.py (course.nbgrader_plugins)"
        )
    else:
        path = Path.cwd() / CHECKS_FILE
    if not path.is_file():
        raise RuntimeError(f"graders: no {CHECKS_FILE} at {path} (set {CHECKS_ENV})")
    return path


def public_checks():
    """The course's c1w3_checks.py (:func:`checks_path`), loaded once by absolute path.

    A submission folder holds its own (possibly edited) c1w3_checks.py, which the
    student's kernel would import first; the graders never use that copy.
    """
    module = sys.modules.get(_MODULE)
    if module is None:
        spec = importlib.util.spec_from_file_location(_MODULE, checks_path())
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE] = module
        spec.loader.exec_module(module)
    return module
