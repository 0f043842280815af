"""The instructor's roster CSV (Canvas or Moodle export): who is a student, under which id."""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

LMSES = ("canvas", "moodle")
# Which roster column becomes the nbgrader student id (docs/lms.md).
DEFAULT_ID_COLUMN = {"canvas": "SIS Login ID", "moodle": "Email address"}
# The roster columns copied into the LMS's import CSV, in the LMS's own order.
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_STUDENT_COLUMNS = ("First name", "Last name", "ID number", "Email address")
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas writes it; its importer looks for the words
TIMESTAMP_FILE = "timestamp.txt"


class LmsError(Exception):
    """A problem the instructor has to fix (bad roster, unknown column): printed, exit 2."""


# ------------------------------------------------------------------------------- roster


@dataclass(frozen=True)
class Student:
    student_id: str  # the nbgrader id (the roster's id column); "" when that cell is empty
    row: dict  # the roster row as read (stripped)

    @property
    def label(self) -> str:
        name = self.row.get("Student") or " ".join(
            p for p in (self.row.get("First name", ""), self.row.get("Last name", "")) if p
        )
        return name or self.student_id


@dataclass
class Roster:
    lms: str
    id_column: str
    columns: list[str]
    students: list[Student]
    path: Path
    # Canvas: the "Points Possible" row of the gradebook export, column -> value
    points_possible: dict[str, str] = field(default_factory=dict)

    def by_column(self, column: str) -> dict[str, list[Student]]:
        index: dict[str, list[Student]] = {}
        for s in self.students:
            index.setdefault(s.row.get(column, ""), []).append(s)
        return index


def _is_canvas_header(columns) -> bool:
    return "Student" in columns and "ID" in columns


def _is_moodle_header(columns) -> bool:
    return "First name" in columns and "Last name" in columns


def detect_lms(columns) -> str | None:
    if _is_canvas_header(columns):
        return "canvas"
    if _is_moodle_header(columns):
        return "moodle"
    return None


def _canvas_non_student_row(row: list[str]) -> bool:
    """Canvas's gradebook export puts a "Points Possible" row (and, for assignments posted
    by hand, a "Manual Posting" row) under the header; its importer skips the same rows."""
    if row and "Points Possible" in row[0]:
        return True
    return all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", c or "", re.I) for c in row)


def read_roster(path, lms: str | None = None, id_column: str | None = None) -> Roster:
    """Read a Canvas gradebook export or a Moodle grade export (CSV, UTF-8 with or without
    BOM). `lms` is detected from the header when not given; `id_column` defaults to
    DEFAULT_ID_COLUMN[lms]."""
    path = Path(path)
    if not path.is_file():
        raise LmsError(f"roster {path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise LmsError(f"roster {path}: empty file")
    columns = [c.strip() for c in rows[0]]
    found = detect_lms(columns)
    if lms is None:
        if found is None:
            raise LmsError(
                f"roster {path}: neither a Canvas gradebook export (columns Student, ID, ...) "
                f"nor a Moodle export (First name, Last name, ...); columns: {columns}"
            )
        lms = found
    need = ("Student", "ID") if lms == "canvas" else ("First name", "Last name")
    missing = [c for c in need if c not in columns]
    if missing:
        raise LmsError(f"roster {path}: a {lms} roster needs columns {missing}; has {columns}")
    id_column = id_column or DEFAULT_ID_COLUMN[lms]
    if id_column not in columns:
        raise LmsError(
            f"roster {path}: no column {id_column!r} for the nbgrader student id; "
            f"columns: {columns}"
        )
    students, points_possible = [], {}
    for raw in rows[1:]:
        if not any(c.strip() for c in raw):
            continue
        if lms == "canvas" and raw and "Points Possible" in raw[0]:
            points_possible = {c: raw[i].strip() for i, c in enumerate(columns) if i < len(raw)}
        if lms == "canvas" and _canvas_non_student_row(raw):
            continue
        row = {c: (raw[i].strip() if i < len(raw) else "") for i, c in enumerate(columns)}
        students.append(Student(row[id_column], row))
    return Roster(lms, id_column, columns, students, path, points_possible)


def id_problem(student_id: str) -> str | None:
    """Why a roster value cannot be an nbgrader student id (a folder name), or None."""
    if not student_id:
        return "empty"
    if "/" in student_id or "\\" in student_id or student_id.startswith(".") or "\0" in student_id:
        return f"{student_id!r} is not usable as a folder name"
    return None


def normalize_name(name: str) -> str:
    """Compare people's names the way Moodle writes them into file names: '_' became a
    space, file-name-hostile characters were dropped; case and spacing do not count."""
    name = unicodedata.normalize("NFC", name).replace("_", " ")
    name = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "", name)
    return " ".join(name.casefold().split())
