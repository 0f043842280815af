"""How a hidden check talks to nbgrader: printed lines, a CheckFailed, or partial points.

nbgrader scores a test cell 0 if it shows an error or writes to stderr, reads a number
left as the cell's last expression as partial points, and gives full marks otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graders import public_checks


@dataclass
class Report:
    grade_id: str
    max_points: float
    lines: list[tuple[bool, str]] = field(default_factory=list)

    def item(self, ok: bool, message: str) -> None:
        self.lines.append((ok, message))

    @property
    def correct(self) -> int:
        return sum(ok for ok, _ in self.lines)

    @property
    def points(self) -> float:
        if not self.lines:
            return 0.0
        return round(self.max_points * self.correct / len(self.lines), 2)

    def text(self) -> str:
        head = (
            f"{self.grade_id}: {self.correct} of {len(self.lines)} correct "
            f"-> {self.points:g} of {self.max_points:g} points"
        )
        body = [f"  {'ok  ' if ok else 'WRONG'} {message}" for ok, message in self.lines]
        return "\n".join([head, *body])

    def partial(self, show: bool = True) -> float:
        """Print the report and return the points (the hidden cell's last expression)."""
        if show:
            print(self.text())
        return self.points

    def all_or_nothing(self, show: bool = True) -> None:
        """Print the report; raise CheckFailed (0 points) unless every item is correct."""
        if self.lines and self.correct == len(self.lines):
            if show:
                print(self.text())
            return
        failures = [message for ok, message in self.lines if not ok] or ["nothing was checked"]
        raise public_checks().CheckFailed(f"{self.grade_id}: " + "; ".join(failures))


def fail(grade_id: str, message: str):
    """Raise the CheckFailed nbgrader scores as 0, with a student-facing message."""
    raise public_checks().CheckFailed(f"{grade_id}: {message}")
