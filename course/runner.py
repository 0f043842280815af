"""Grade submissions one student at a time, each in its own ``nbgrader autograde`` process.

One process per submission is the seam that makes a batch robust: a submission that
crashes nbgrader, hangs past its wall-time limit or breaks its notebook file costs only
its own grade, which is then recorded with the reason (never silently missing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from graders import ASSIGNMENT, COURSE_ROOT

# Whole-submission wall time: two training cells (600 s each at most) plus the rest.
SUBMISSION_TIMEOUT_S = float(os.environ.get("C1W3_SUBMISSION_TIMEOUT", "1500"))


@dataclass
class GradingRun:
    student: str
    ok: bool
    seconds: float
    reason: str = ""


def nbgrader(course_root: Path, *args: str, timeout: float | None = None):
    """Run one nbgrader command in the course folder with this environment's tools."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(
        [str(Path(bindir) / "nbgrader"), *args],
        cwd=course_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_course(root: Path) -> Path:
    """A fresh course folder with this repo's config and source/, nothing generated yet."""
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(COURSE_ROOT / "source", root / "source")
    return root


def students(course_root: Path, assignment: str = ASSIGNMENT) -> list[str]:
    submitted = course_root / "submitted"
    return sorted(p.parent.name for p in submitted.glob(f"*/{assignment}") if p.is_dir())


def _last_error(log: str) -> str:
    """The exception nbgrader's log ends with ('NotJSONError: ...'), else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Timeout)\w*: ", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def grade_student(course_root: Path, student: str, assignment: str = ASSIGNMENT) -> GradingRun:
    start = time.perf_counter()
    try:
        done = nbgrader(
            course_root,
            "autograde",
            assignment,
            "--student",
            student,
            "--force",
            timeout=SUBMISSION_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return GradingRun(
            student,
            False,
            time.perf_counter() - start,
            f"stopped after the {SUBMISSION_TIMEOUT_S:g} s limit for one submission",
        )
    seconds = time.perf_counter() - start
    graded = course_root / "autograded" / student / assignment / f"{assignment}.ipynb"
    if done.returncode != 0 or not graded.exists():
        return GradingRun(student, False, seconds, _last_error(done.stdout + done.stderr))
    return GradingRun(student, True, seconds)


def record_ungraded(course_root: Path, student: str) -> None:
    """Keep a student whose submission could not be graded in the gradebook, so that
    ``nbgrader export`` lists them with 0 points instead of leaving them out."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gb:
        gb.update_or_create_student(student)


def grade_class(course_root: Path, names=None, assignment: str = ASSIGNMENT, progress=print):
    """Autograde every submitted student (or `names`); returns one GradingRun each."""
    names = list(names or students(course_root, assignment))
    runs = []
    for i, student in enumerate(names, start=1):
        run = grade_student(course_root, student, assignment)
        if not run.ok:
            record_ungraded(course_root, student)
        runs.append(run)
        status = "ok" if run.ok else f"FAILED: {run.reason}"
        progress(f"[{i}/{len(names)}] {student}: {status} ({run.seconds:.0f} s)")
    log = course_root / "reports" / f"{assignment}_runs.json"  # read by the TA summary
    log.parent.mkdir(exist_ok=True)
    log.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return runs
