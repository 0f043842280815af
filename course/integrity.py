"""Integrity pass, run by the instructor's process after autograde (never by a kernel).

``VerifyOutsideKernel`` (course/nbgrader_plugins.py) judged each submission's artifacts
outside its kernel and wrote ``reports/integrity/<student>.json``: per grade id, the points
the kernel's own checks reported and the points verified. Here each record is compared with
what the gradebook holds. A submission is flagged when its kernel claimed points the
verifier did not give (patched or shadowed checks), when the verifier itself failed, or when
the gradebook's recorded score differs from the verified one.
"""

from __future__ import annotations

import json
from pathlib import Path


def record(course: Path, student: str) -> dict | None:
    path = Path(course) / "reports" / "integrity" / f"{student}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def flags(course: Path, student: str, recorded: dict[str, float | None]) -> list[str]:
    """`recorded`: grade id -> score in the gradebook."""
    rec = record(course, student)
    if rec is None:
        return []
    out = [f"integrity: {flag}" for flag in rec.get("flags", [])]
    for grade_id, check in rec.get("checks", {}).items():
        score = recorded.get(grade_id)
        if score is not None and abs(score - check["verified"]) > 1e-6:
            out.append(
                f"integrity: the gradebook holds {score:g} points for {grade_id}, "
                f"the grader verified {check['verified']:g}"
            )
    return out
