"""What no attack may change, hashed before and after a grading."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from course.layout import COURSE_ROOT
from graders import ASSIGNMENT


def course_snapshot(course: Path, url: str, honest) -> dict:
    """What no attack may change: the honest students' files, the course's files, every
    submission (the attackers' own too) and the honest students' gradebook rows."""
    mine = [course / place / s for place in ("submitted", "autograded") for s in honest]
    files = _hash_tree(
        *mine, course / "source", course / "release", COURSE_ROOT / "graders", course / "submitted"
    )
    return {
        "files": files | _hash_tree(course / "nbgrader_config.py"),
        "gradebook": _gradebook_rows(url, honest),
    }


def _hash_tree(*roots: Path) -> dict[str, str]:
    digests = {}
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _gradebook_rows(url: str, students) -> dict:
    """Everything the gradebook holds about `students` and the assignment's source cells."""
    rows = {}
    with Gradebook(url) as gb:
        notebook = gb.find_notebook(ASSIGNMENT, ASSIGNMENT)
        rows["source_cells"] = sorted((c.name, c.checksum, c.source) for c in notebook.source_cells)
        rows["grade_cells"] = sorted((c.name, c.max_score) for c in notebook.grade_cells)
        for student in students:
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            rows[student] = sorted(
                (g.name, g.auto_score, g.manual_score, g.extra_credit) for g in nb.grades
            )
    return rows


def notebook_outputs(course: Path, student: str) -> str:
    nb = nbformat.read(
        course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4
    )
    return "\n".join(
        str(o.get("text", ""))
        + str(o.get("data", {}).get("text/plain", ""))  # the grader's notes are display data
        + f"{o.get('ename', '')}: {o.get('evalue', '')}"
        for c in nb.cells
        for o in c.get("outputs", [])
    )
