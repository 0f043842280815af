"""Integrity: did the points come from the grader, and is the submission the one released?

During autograde ``VerifyOutsideKernel`` (course/nbgrader_plugins.py) judges each
submission's artifacts outside its kernel, then :func:`compute` and :func:`write` keep, per
grade id, the points the kernel's own checks reported and the points verified, in
``reports/integrity/<assignment>/<student>.json``. After autograde the instructor's process
(the TA summary, never a kernel) compares: :func:`flags` names a submission whose kernel
claimed points the verifier did not give (patched or shadowed checks), whose verifier
failed, or whose gradebook score differs from the verified one; :func:`tampering` names
locked cells the submission edited or deleted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import nbformat

from course.layout import Layout
from graders import ASSIGNMENT

if TYPE_CHECKING:
    from graders.report import Verdict


class Graded(NamedTuple):
    """One autograded cell: what its kernel scored, its points, the verdict written into it."""

    kernel_points: float | None
    max_points: float
    verdict: Verdict


def _canonical(student_id: str) -> str:
    from graders import public_checks

    return public_checks().canonical_id(student_id)


def part4_model_id(student: str, declared: str | None, enrolled: set[str] | None) -> str:
    """Whose model Part 4 is judged on. The student's own, unless the notebook declares an
    id that is neither theirs (compared as the model is picked: "AB123" is "ab123") nor any
    other enrolled student's: then it is a slip of form (a full name, a typo) and the model
    the student was shown and predicted counts. Another student's id is a copy flag; so is
    any other id when the roster could not be read (`enrolled` None)."""
    if not isinstance(declared, str) or not declared.strip() or enrolled is None:
        return student
    theirs = _canonical(declared)
    if theirs == _canonical(student) or theirs in {_canonical(s) for s in enrolled}:
        return student
    return declared


def compute(
    student: str,
    assignment: str,
    cells: dict[str, Graded],
    problem: str = "",
    declared_id: str | None = None,
    model_id: str | None = None,
) -> dict:
    """The integrity record of one submission; `problem`: why the verifier failed, if it did;
    `declared_id`: the STUDENT_ID the notebook wrote (Part 4's model is derived from it);
    `model_id`: whose model Part 4 was judged on (part4_model_id; None: the student's)."""
    from graders.registry import DEFERRED_IN_AUTOGRADE, VARIANT_GRADE_IDS

    model_id = model_id or student
    declared = declared_id if isinstance(declared_id, str) and declared_id.strip() else None
    # A notebook written for another enrolled student's id: its kernel judged Part 4 on that
    # id's model, the verifier on this student's. That is the copy flag below, not tampering.
    # A declared id that is no student's (a slip) was judged on its own model on both sides.
    other_id = declared is not None and _canonical(declared) != _canonical(model_id)
    slip = declared is not None and model_id != student

    checks = {
        grade_id: {
            "kernel": cell.kernel_points,
            "verified": cell.verdict.points,
            "max": cell.max_points,
            # The kernel does not judge these while autograding: nothing to compare.
            "deferred": grade_id in DEFERRED_IN_AUTOGRADE
            or (other_id and grade_id in VARIANT_GRADE_IDS),
        }
        for grade_id, cell in cells.items()
    }
    record = {"student": student, "assignment": assignment, "checks": checks}
    if declared_id is not None:
        record["declared_id"] = declared_id
    if slip:
        record["model_id"] = model_id
        # Neutral: no other student has this id, so nothing points to copying.
        record["notes"] = [
            f"STUDENT_ID {declared!r} is not this student's id and no enrolled student's: "
            "Part 4 was graded on the model that id shows (the student was told in the "
            "feedback)"
        ]
    record["flags"] = [
        f"{gid}: the notebook's kernel reported {c['kernel']:g} points, the grader "
        f"verified {c['verified']:g}"
        for gid, c in checks.items()
        if not c["deferred"] and abs((c["kernel"] or 0) - c["verified"]) > 1e-6
    ]
    if other_id:
        record["flags"].insert(
            0,
            f"STUDENT_ID {declared_id!r}: this notebook was written for another student's "
            "model (copied or handed in under a second id?); Part 4 was graded on this "
            "student's own model",
        )
    if problem:
        record["verifier_error"] = problem
        record["flags"].append(f"the verifier failed: {problem}")
    return record


def path(course: Path, student: str, assignment: str = ASSIGNMENT) -> Path:
    return Layout(course, assignment).integrity_record(student)


def write(course: Path, record: dict) -> Path:
    target = path(course, record["student"], record["assignment"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=1))
    return target


def record(course: Path, student: str, assignment: str = ASSIGNMENT) -> dict | None:
    # Records written before they were kept per assignment: reports/integrity/<student>.json.
    legacy = Path(course) / "reports" / "integrity" / f"{student}.json"
    for candidate in (path(course, student, assignment), legacy):
        try:
            return json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
    return None


def flags(
    course: Path, student: str, recorded: dict[str, float | None], assignment: str = ASSIGNMENT
) -> list[str]:
    """`recorded`: grade id -> score in the gradebook."""
    rec = record(course, student, assignment)
    if rec is None:
        return []
    out = [f"integrity: {flag}" for flag in rec.get("flags", [])]
    out += [f"note: {note}" for note in rec.get("notes", [])]
    for grade_id, check in rec.get("checks", {}).items():
        score = recorded.get(grade_id)
        if score is not None and abs(score - check["verified"]) > 1e-6:
            out.append(
                f"integrity: the gradebook holds {score:g} points for {grade_id}, "
                f"the grader verified {check['verified']:g}"
            )
    return out


# -- Locked cells: the submission against the release ---------------------------------------


def locked_cells(notebook: Path) -> dict[str, str]:
    """grade id -> source of every locked cell of a notebook."""
    nb = nbformat.read(notebook, as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("locked")
    }


def released_locked_cells(layout: Layout) -> dict[str, str]:
    """The locked cells exactly as students received them."""
    return locked_cells(layout.notebook("release"))


def tampering(layout: Layout, student: str, released: dict[str, str]) -> list[str]:
    """Locked cells of `released` that the student's submitted notebook edited or deleted."""
    submitted = layout.notebook("submitted", student)
    try:
        sub = nbformat.read(submitted, as_version=4)
    except Exception as exc:  # a broken file is itself worth a flag
        return [f"submitted notebook unreadable ({type(exc).__name__})"]
    present = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in sub.cells
        if c.metadata.get("nbgrader", {}).get("grade_id")
    }
    edited = [gid for gid, src in released.items() if gid in present and present[gid] != src]
    missing = [gid for gid in released if gid not in present]
    out = []
    if edited:
        out.append("tampering: edited locked cells " + ", ".join(edited))
    if missing:
        out.append("tampering: deleted locked cells " + ", ".join(missing))
    return out
