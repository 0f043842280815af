"""nbgrader's exchange as students and instructor use it: homes, environments, commands."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course import gradebook
from course.layout import COURSE_ROOT
from graders import ASSIGNMENT
from scenarios.notebook_edits import solved_release
from scenarios.sample_class import SAMPLE_EXPLANATION

NOTEBOOK = f"{ASSIGNMENT}.ipynb"


COURSE_ID = gradebook.course_id(COURSE_ROOT)  # nbgrader_config.py's: the exchange's folder


STEP_TIMEOUT_S = 300


COURSE_POLICY = """
# The course's late policy, set once: a late submission scores 0 (nbgrader keeps the points it
# would have had; the penalty is recorded beside them).
c.LateSubmissionPlugin.penalty_method = "zero"
# A class of two: no training-cache audit (tests/test_end_to_end.py audits the sample class's).
c.TrainingCache.audit_fraction = 0
"""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the course's, nbgrader's and Jupyter's own settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("C1W3_", "NBGRADER", "JUPYTER"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@dataclass
class Student:
    """A hub user: their own HOME (JupyterLab's root), Jupyter config and nbgrader cache."""

    id: str
    home: Path

    @classmethod
    def make(cls, root: Path, student_id: str, exchange_root: Path) -> Student:
        home = root / student_id
        (home / ".jupyter").mkdir(parents=True)
        (home / ".jupyter" / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            "# What a hub's /etc/jupyter/nbgrader_config.py gives every user:\n"
            f"c.Exchange.root = {str(exchange_root)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            "# Where a hub's nbgrader takes the id from the Unix user name (or JUPYTERHUB_USER):\n"
            f"c.CourseDirectory.student_id = {student_id!r}\n"
            f"c.CourseDirectory.root = {str(home)!r}\n"
            "# nbgrader's default, spelled out for a JupyterLab with its own data folder:\n"
            f"c.Exchange.cache = {str(home / '.local/share/jupyter/nbgrader_cache')!r}\n"
        )
        return cls(student_id, home)

    @property
    def folder(self) -> Path:
        return self.home / ASSIGNMENT

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        env = clean_env(HOME=str(self.home), USER=self.id, LOGNAME=self.id)
        nbgrader = str(Path(sys.executable).parent / "nbgrader")
        return run([nbgrader, *args], self.home, env)

    def write(self, nb) -> None:
        nbformat.write(nb, self.folder / NOTEBOOK)

    def feedback_pages(self) -> list[Path]:
        return sorted((self.folder / "feedback").glob("*/*.html"))

    def cached_submissions(self) -> list[Path]:
        """nbgrader's copy of each submission, in this student's own nbgrader cache."""
        cache = self.home / ".local/share/jupyter/nbgrader_cache" / COURSE_ID
        return sorted(cache.glob(f"*+{ASSIGNMENT}+*"))


def solved(course: Path, student: str):
    """The released notebook with every answer right, written by `student`."""
    nb, _ = solved_release(course, student=student)
    for cell in nb.cells:
        if cell.get("id") == "explain_accuracy_gain_answer":
            cell.source = SAMPLE_EXPLANATION
    return nb


def instructor(course: Path, *args: str) -> str:
    """`python -m course ...`, as the Makefile's targets run it, in the course folder."""
    done = run([sys.executable, "-m", "course", *args], course, clean_env())
    return done.stdout + done.stderr
