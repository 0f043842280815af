"""Hidden graders for the c1w3_convolutions assignment (never released to students).

Flow: the hidden test cells restored by ``nbgrader autograde`` call :mod:`graders.hidden`;
the points-deciding accuracy check runs in a fresh interpreter (:mod:`graders.evaluate_model`).
Check logic shared with the students' visible checks lives in the released
``source/c1w3_convolutions/c1w3_checks.py``; :func:`public_checks` loads the instructor's copy.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ASSIGNMENT = "c1w3_convolutions"
# The one file outside this package the graders read (they sit beside source/ in the course).
PUBLIC_CHECKS_PATH = (
    Path(__file__).resolve().parent.parent / "source" / ASSIGNMENT / "c1w3_checks.py"
)


def public_checks():
    """The instructor's copy of c1w3_checks.py, loaded by absolute path.

    A submission folder holds its own (possibly edited) c1w3_checks.py, which the
    student's kernel would import first; the graders never use that copy.
    """
    name = "graders._c1w3_checks"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, PUBLIC_CHECKS_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module
