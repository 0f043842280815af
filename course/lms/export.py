"""Out: the gradebook -> the CSV each LMS's grade import reads (nbgrader ExportPlugins)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.plugins import ExportPlugin
from traitlets import Enum, Float, Unicode

from course.gradebook import final_score
from course.lms.roster import (
    CANVAS_POINTS_ROW,
    CANVAS_STUDENT_COLUMNS,
    MOODLE_STUDENT_COLUMNS,
    LmsError,
    Roster,
    read_roster,
)
from graders import ASSIGNMENT

# ------------------------------------------------------------------------------- export


def _fmt(value: float) -> str:
    """2 decimals (what Canvas shows and compares at), no trailing zeros."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass
class ExportResult:
    path: Path
    points: float = 0.0
    rows: int = 0
    graded: int = 0
    blank: list[str] = field(default_factory=list)  # roster students without a submission
    not_in_roster: list[str] = field(default_factory=list)  # gradebook ids with a submission
    needs_manual_grade: list[str] = field(default_factory=list)
    no_id: list[str] = field(default_factory=list)  # roster rows with an empty id cell
    warnings: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [
            f"wrote {self.path}: {self.rows} roster students, {self.graded} with a score "
            f"(out of {_fmt(self.points)})"
        ]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        if self.blank:
            lines.append(f"  no submission ({len(self.blank)}): {', '.join(self.blank)}")
        if self.no_id:
            lines.append(
                f"  roster rows without an id ({len(self.no_id)}): {', '.join(self.no_id)}"
            )
        if self.needs_manual_grade:
            lines.append(
                "  WARNING: still need manual grading (exported with 0 for those cells): "
                + ", ".join(self.needs_manual_grade)
            )
        if self.not_in_roster:
            lines.append(
                "  WARNING: graded but not in the roster, NOT exported: "
                + ", ".join(self.not_in_roster)
            )
        return "\n".join(lines)


class LmsExport(ExportPlugin):
    """Gradebook -> the CSV an LMS's grade import reads: one row per roster student, the
    roster's identifying columns copied, one grade column. nbgrader's score minus its late
    penalty, scaled to `points`; no submission -> empty cell (or 0 with missing='zero')."""

    lms = ""

    roster = Unicode("", help="Roster CSV exported from the LMS.").tag(config=True)
    id_column = Unicode(
        "", help="Roster column holding the nbgrader student id (default per LMS)."
    ).tag(config=True)
    points = Float(0.0, help="Points of the LMS assignment; 0 keeps nbgrader's.").tag(config=True)
    missing = Enum(
        ["blank", "zero"], default_value="blank", help="Cell for a student with no submission."
    ).tag(config=True)
    column = Unicode(
        "", help="Header of the grade column: the LMS's assignment (default: nbgrader's name)."
    ).tag(config=True)

    result: ExportResult | None = None

    def _assignment(self, gradebook) -> str:
        if self.assignment:
            if len(self.assignment) != 1:
                raise LmsError(f"export one assignment at a time, not {list(self.assignment)}")
            return str(self.assignment[0])
        names = [a.name for a in gradebook.assignments]
        if ASSIGNMENT in names or len(names) != 1:
            return ASSIGNMENT
        return names[0]

    def _points(self, roster: Roster, column: str, max_score: float) -> tuple[float, list]:
        """The LMS's points: `points` if given, else what Canvas's export shows in its
        "Points Possible" row for that column (importing another value would change the
        Canvas assignment's points), else nbgrader's maximum."""
        try:
            shown = float(roster.points_possible.get(column, ""))
        except ValueError:
            shown = None
        if self.points:
            if shown is not None and shown != self.points:
                return self.points, [
                    f"points {_fmt(self.points)} but the roster's Points Possible for "
                    f"{column!r} is {_fmt(shown)}: the import sets the Canvas assignment to "
                    f"{_fmt(self.points)} points"
                ]
            return self.points, []
        return (shown if shown is not None else max_score), []

    def export(self, gradebook) -> None:
        if not self.roster:
            raise LmsError(
                f"{type(self).__name__}.roster: give the roster CSV exported from the LMS"
            )
        roster = read_roster(self.roster, self.lms, self.id_column or None)
        name = self._assignment(gradebook)
        assignment = gradebook.find_assignment(name)
        max_score = float(assignment.max_score or 0)
        column = self.column or name
        points, warnings = self._points(roster, column, max_score)
        scores, manual = {}, []
        for sub in gradebook.assignment_submissions(name):
            raw = final_score(sub)
            scores[sub.student.id] = raw / max_score * points if max_score else 0.0
            if sub.needs_manual_grade:
                manual.append(sub.student.id)
        dest = Path(self.to or f"reports/{name}_{self.lms}.csv")
        dest.parent.mkdir(parents=True, exist_ok=True)
        result = ExportResult(dest, points, warnings=warnings)
        id_columns = [
            c
            for c in (CANVAS_STUDENT_COLUMNS if self.lms == "canvas" else MOODLE_STUDENT_COLUMNS)
            if c in roster.columns
        ]
        rows = [id_columns + [column]]
        if self.lms == "canvas":
            rows.append([CANVAS_POINTS_ROW] + [""] * (len(id_columns) - 1) + [_fmt(points)])
        seen = set()
        for s in roster.students:
            seen.add(s.student_id)
            if not s.student_id:
                result.no_id.append(s.label)
            if s.student_id and s.student_id in scores:
                cell = _fmt(scores[s.student_id])
                result.graded += 1
            else:
                cell = "0" if self.missing == "zero" else ""
                result.blank.append(s.student_id or s.label)
            rows.append([s.row.get(c, "") for c in id_columns] + [cell])
            result.rows += 1
        result.not_in_roster = sorted(set(scores) - seen)
        result.needs_manual_grade = sorted(set(manual) & seen)
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
        self.result = result
        self.log.info("%s", result.format())


class CanvasExport(LmsExport):
    """Canvas gradebook import: Student, ID, SIS User ID, SIS Login ID, Section (from the
    roster; Canvas matches rows by ID), a "Points Possible" row, and the assignment column
    (name it as in Canvas's export, "C1W3 Convolutions (12345)", to update that assignment)."""

    lms = "canvas"


class MoodleExport(LmsExport):
    """Moodle "Import grades: CSV file": First name, Last name, ID number, Email address
    (map "Email address" or "ID number" to the user) and the grade column."""

    lms = "moodle"


EXPORTERS = {"canvas": CanvasExport, "moodle": MoodleExport}


def export(
    course_root,
    to_lms: str,
    roster_path,
    *,
    out=None,
    points: float = 0.0,
    missing: str = "blank",
    column: str = "",
    id_column: str = "",
    assignment: str = ASSIGNMENT,
    db_url: str | None = None,
) -> ExportResult:
    """Gradebook (SQLite or PostgreSQL, course.gradebook) -> the LMS's import CSV."""
    from course.gradebook import open_gradebook
    from course.layout import Layout

    course_root = Path(course_root).resolve()
    plugin = EXPORTERS[to_lms](
        to=str(out or Layout(course_root, assignment).reports / f"{assignment}_{to_lms}.csv"),
        assignment=[assignment],
        roster=str(Path(roster_path).resolve()),
        points=float(points or 0.0),
        missing=missing,
        column=column,
        id_column=id_column,
    )
    with open_gradebook(course_root, db_url) as gb:
        plugin.export(gb)
    return plugin.result
