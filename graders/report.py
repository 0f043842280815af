"""How a hidden check talks to nbgrader: printed lines, a CheckFailed, or partial points.

nbgrader scores a test cell 0 if it shows an error or writes to stderr, reads a number
left as the cell's last expression as partial points, and gives full marks otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from graders import public_checks


@dataclass
class Report:
    grade_id: str
    max_points: float
    lines: list[tuple[bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown, never scored

    def item(self, ok: bool, message: str) -> None:
        self.lines.append((ok, message))

    def note(self, message: str) -> None:
        self.notes.append(message)

    @property
    def correct(self) -> int:
        return sum(ok for ok, _ in self.lines)

    @property
    def passed(self) -> bool:
        """Every item correct (and at least one checked): full marks."""
        return bool(self.lines) and self.correct == len(self.lines)

    @property
    def failures(self) -> list[str]:
        if not self.lines:
            return ["nothing was checked"]
        return [message for ok, message in self.lines if not ok]

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
        return "\n".join([head, *(f"  NOTE  {n}" for n in self.notes), *body])

    def partial(self, show: bool = True) -> float:
        """Print the report and return the points (the hidden cell's last expression)."""
        if show:
            print(self.text())
        return self.points

    def all_or_nothing(self, show: bool = True) -> None:
        """Print the report; raise CheckFailed (0 points) unless every item is correct."""
        if self.passed:
            if show:
                print(self.text())
            return
        raise public_checks().CheckFailed(f"{self.grade_id}: " + "; ".join(self.failures))

    def verdict(self, all_or_nothing: bool, ran: bool = True) -> Verdict:
        if all_or_nothing:
            points = self.max_points if self.passed else 0.0
        else:
            points = self.points
        return Verdict(points, self.max_points, all_or_nothing, ran, self.text(), self.failures)


@dataclass(frozen=True)
class Verdict:
    """The points one grade id gets, and the words that explain them.

    graders.verify prints one per grade id as JSON; course.nbgrader_plugins writes it into
    the autograded cell, where nbgrader reads the points.
    """

    points: float
    max_points: float
    all_or_nothing: bool
    ran: bool  # False: the hidden cell left no artifact (it never ran, or was replaced)
    text: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and self.points >= self.max_points

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Verdict:
        """Raises KeyError, TypeError or ValueError on anything but to_json()'s shape."""
        verdict = cls(**{f.name: data[f.name] for f in fields(cls)})
        if not isinstance(verdict.failures, list) or not isinstance(verdict.text, str):
            raise TypeError("not a verdict")
        return replace(verdict, points=float(verdict.points), max_points=float(verdict.max_points))

    @classmethod
    def unverified(cls, grade_id: str, max_points: float, problem: str) -> Verdict:
        """0 points: the verifier failed, or gave no result for this grade id."""
        message = f"the grader could not verify this cell ({problem or 'no result'})"
        return cls(0.0, max_points, True, True, f"{grade_id}: {message}", [message])

    def not_run(self, stopped_by: str | None = None) -> Verdict:
        """This verdict for a cell whose grader's part left no result; `stopped_by`: the
        cell's own error ("ename: evalue"), if it showed one."""
        if stopped_by:
            message = (
                f"the grader's part of this cell did not run (the cell stopped first: {stopped_by})"
            )
        else:  # the cell ran without error, yet the grader's code left nothing: it was replaced
            message = "the grader's part of this cell left no result (the notebook replaced it)"
        head = self.text.splitlines()[0] if self.text else ""
        return replace(self, ran=False, failures=[message], text=f"{head}\n  {message}")


def fail(grade_id: str, message: str):
    """Raise the CheckFailed nbgrader scores as 0, with a student-facing message."""
    raise public_checks().CheckFailed(f"{grade_id}: {message}")
