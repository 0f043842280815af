"""What a student reads first on their feedback page: a box above the re-rendered notebook
with points by part, each lost item with its cause in one line (items lost to one earlier
error grouped under it), the TA's part as pending rather than lost, and what the grader did
to the notebook (a cell stopped at its limit, output dropped, a renamed upload).

A feedback preprocessor (``c.GenerateFeedback.preprocessors``, after GetGrades, which puts
each grade cell's score in its metadata). It reads only the autograded notebook, the
gradebook and the run record: the points are nbgrader's, never recomputed here.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell
from nbgrader.coursedir import CourseDirectory
from traitlets import Bool

from course import gradebook, runner
from course.layout import Layout

BOX_ID = "what_to_fix"
PART = re.compile(r"^## (Part \d+)", re.MULTILINE)
STOPPED_FIRST = re.compile(r"the cell stopped first: (.*)\)$")
# A cause that only says an earlier cell failed: the item is grouped under that cell's cause.
DOWNSTREAM = (
    "is not defined",
    "did not run to the end",
    "Part 5 did not finish",
    "needs the conv model trained in Part 5",
    "not run: ",
)
# Grader internals a student cannot act on: left in the TA's autograded notebook only.
INTERNAL_LINES = re.compile(r"^\[the grader's training cache[^\n]*\]\n?", re.MULTILINE)


def _text(output) -> str:
    return str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))


def cause(cell) -> str:
    """The first reason the cell's verdict gives for points lost, in one line (without the
    checks' own exception name, which says nothing to a student)."""
    return _reason(cell).removeprefix("CheckFailed: ")


def _reason(cell) -> str:
    for output in cell.get("outputs", []):
        text = _text(output)
        if not text.startswith("Graded outside your notebook:"):
            continue
        for line in text.splitlines()[2:]:
            line = line.strip()
            found = STOPPED_FIRST.search(line)
            if found:
                return found.group(1)
            if line.startswith("WRONG "):
                return line[len("WRONG ") :]
            if line and not line.startswith(("ok ", "NOTE ")):
                return line
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
    return "see the cell's output"


def events(nb, part_of: dict[int, str]) -> list[str]:
    """What the grader did to the run, in the student's words, each once."""
    out = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            name, value = output.get("ename", ""), str(output.get("evalue", ""))
            where = part_of.get(index, "the notebook")
            if name == "CellTimeoutError":
                line = (
                    f"A cell in {where} ran past its time limit and was interrupted ({value}). "
                    "Make it finish sooner (a loop that never ends?), then restart the kernel "
                    "and Run All before you submit."
                )
            elif name == "KernelStopped":
                line = f"Your notebook stopped in {where}: {value}. The cells after it did not run."
            elif "NOTE  this notebook's STUDENT_ID is" in _text(output):
                note = _text(output).split("NOTE  ", 1)[1].splitlines()[0]
                line = f"{where}: {note[0].upper()}{note[1:]}."
            elif "dropped by the grader" in _text(output):
                line = (
                    f"A cell in {where} printed more than the grader keeps: "
                    f"{_text(output).strip('[] ')}."
                )
            else:
                continue
            if line not in out:
                out.append(line)
    return out


def _parts(nb) -> dict[int, str]:
    part, part_of = "", {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found = PART.search(cell.source)
            part = found.group(1) if found else part
        part_of[index] = part or "the introduction"
    return part_of


def _fmt(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}"


def box(nb, pending: set[str], process: list[str]) -> str:
    """The box's Markdown. `pending`: grade ids a TA has not graded yet."""
    part_of, tasks = _parts(nb), _tasks(nb)
    auto, by_ta = [], []  # (grade id, part, score, points, cause of a loss or None)
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if "score" not in meta or not meta.get("points"):
            continue
        score, points = float(meta["score"] or 0), float(meta["points"])
        gid, part = meta["grade_id"], part_of[index]
        if index in tasks or gid in pending:
            by_ta.append((gid, part, score, points, None))
        else:
            auto.append((gid, part, score, points, cause(cell) if score < points else None))
    lines = ["## What to fix first", ""]
    got, out_of = sum(i[2] for i in auto), sum(i[3] for i in auto)
    lines.append(f"**Automatic points: {_fmt(got)} of {_fmt(out_of)}.**")
    for gid, part, score, points, _ in by_ta:
        graded = "**pending**" if gid in pending else f"{_fmt(score)} of {_fmt(points)}"
        lines += ["", f"{part}, graded by a TA ({_fmt(points)} points): {graded}."]
    # A list, not a table: the feedback page's stylesheet gives table cells no padding
    # ("Part 30 of 10" in Chromium, docs/screenshots/student_what_to_fix.png).
    lines += ["", "**Automatic points by part:**", ""]
    by_part: dict[str, list[float]] = {}
    for _, part, score, points, _ in auto:
        by_part.setdefault(part, [0.0, 0.0])
        by_part[part][0] += score
        by_part[part][1] += points
    lines += [f"- {p}: {_fmt(s)} of {_fmt(m)}" for p, (s, m) in by_part.items()]
    lost = [i for i in auto if i[4] is not None]
    lines += ["", "**Points lost**, each with its cause (the item links to its cell):" if lost
              else "**No automatic point lost.**"]  # fmt: skip
    roots: list[tuple[tuple, list[tuple]]] = []
    for item in lost:
        if roots and (any(word in item[4] for word in DOWNSTREAM) or item[4] == roots[-1][0][4]):
            roots[-1][1].append(item)  # it only says an earlier cell failed, or the same
        else:
            roots.append((item, []))
    for (gid, part, score, points, why), followers in roots:
        line = f"- {part}, [`{gid}`](#{gid}) ({_fmt(score)} of {_fmt(points)}): {why}"
        if followers:
            lost_too = ", ".join(
                f"[`{g}`](#{g}) ({_fmt(s)} of {_fmt(p)}, {pt})" for g, pt, s, p, _ in followers
            )
            line += f". Also lost to it: {lost_too}. Fix this first."
        lines.append(line)
    if process:
        lines += ["", "**What the grader did with your notebook:**"]
        lines += [f"- {line}" for line in process]
    return "\n".join(lines)


def _tasks(nb) -> set[int]:
    return {i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("task")}


class WhatToFix(Preprocessor):
    """Feedback: the box above, as the notebook's first cell; grader-internal lines out."""

    enabled = Bool(True)  # nbgrader registers preprocessors without enabling them

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        pending = self._pending(info)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    output["text"] = INTERNAL_LINES.sub("", str(output.get("text", "")))
        process = events(nb, _parts(nb))
        note = self._upload_note(info)
        if note:
            process.append(f"{note[0].upper()}{note[1:]}.")
        if nb.cells and nb.cells[0].get("id") == BOX_ID:
            nb.cells.pop(0)
        cell = new_markdown_cell(box(nb, pending, process))
        cell["id"] = BOX_ID
        nb.cells.insert(0, NotebookNode(cell))
        return nb, resources

    def _pending(self, info) -> set[str]:
        """Grade ids of this submission that wait for a TA (needs_manual_grade)."""
        try:
            coursedir = CourseDirectory(config=self.config)
            url = info.get("db_url") or coursedir.db_url
            with gradebook.open_gradebook(Path(coursedir.root), url) as gb:
                nb = gb.find_submission_notebook(
                    info["notebook"], info["assignment"], info["student"]
                )
                return {g.name for g in nb.grades if g.needs_manual_grade}
        except Exception as exc:  # no gradebook: nothing is shown as pending
            self.log.warning("feedback box: grades waiting for a TA not read (%s)", exc)
            return set()

    def _upload_note(self, info) -> str:
        try:
            layout = Layout(Path(CourseDirectory(config=self.config).root), info["assignment"])
            record = runner.read_record(layout, info["student"]) or {}
        except Exception:  # noqa: BLE001  (no record: nothing to say)
            return ""
        return str(record.get("note") or "")
