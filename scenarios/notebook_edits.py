"""Edits that turn the released notebook into a scripted submission: the sample class
(scenarios/sample_class.py) and the hostile class (scenarios/hostile_class.py) are built
from these, and tests use them to write one scenario.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from course.layout import Layout
from graders.hidden import POINTS

SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)
FULL = {grade_id: float(points) for grade_id, points in POINTS.items()}


def expect(**changes) -> dict[str, float]:
    """The automatic points per grade id: full marks except `changes`."""
    return {**FULL, **{k: float(v) for k, v in changes.items()}}


def find_cell(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def index(nb, grade_id) -> int:
    return nb.cells.index(find_cell(nb, grade_id))


def solutions(source_nb) -> dict[str, str]:
    return {
        cell.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKERS.sub("", cell.source)
        for cell in source_nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def answer(nb, grade_id, text):
    find_cell(nb, grade_id).source = text


def replace(nb, grade_id, old, new):
    cell = find_cell(nb, grade_id)
    assert old in cell.source, (grade_id, old)
    cell.source = cell.source.replace(old, new)


def insert_before(nb, grade_id, source):
    nb.cells.insert(index(nb, grade_id), nbformat.v4.new_code_cell(source))


def as_student(nb, student: str):
    """The notebook written by `student`: their STUDENT_ID (Part 4's model is theirs), and the
    source's solutions, which apply the rules to whatever model that id gives."""
    cell = find_cell(nb, "student_id_answer")
    written = re.compile(r"^STUDENT_ID = (['\"]).*\1$", re.MULTILINE)  # not the `...` stub
    assert written.search(cell.source), cell.source
    cell.source = written.sub(lambda _: f"STUDENT_ID = {student!r}", cell.source)
    return nb


def solved_release(course_root: Path, student: str | None = None):
    """(the released notebook with every solution of the source filled in, the release);
    written by `student` (their STUDENT_ID) when given."""
    layout = Layout(course_root)
    release = nbformat.read(layout.notebook("release"), as_version=4)
    source = nbformat.read(layout.notebook("source"), as_version=4)
    nb = copy.deepcopy(release)
    for grade_id, text in solutions(source).items():
        answer(nb, grade_id, text)
    if student is not None:
        as_student(nb, student)
    return nb, release
