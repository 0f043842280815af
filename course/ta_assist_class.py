"""The Part 7 assistant on a graded class: read the answers, the TA's grades and the similarity
report's flags, write the TA's page, and -- only when the TA says so -- accept proposals into
nbgrader's gradebook as manual grades.

    python -m course ta-assist [--course DIR] [--db-url URL]             # the page, nothing written
    python -m course ta-assist accept --student ID [--student ID ...]    # those proposals
    python -m course ta-assist accept --all                               # every proposal

Grading by criterion: nbgrader's manual grade is one number, so the TA writes the five levels of
the mark scheme in the grade's comment in formgrader, ``criteria 2 1 2 0 1`` (information,
weight sharing, evidence, controls, shifts), with their sum as the score; a comment whose levels
do not add up to the score is not read. The default method learns from these levels only.

Whose grade is whose: an accepted proposal is written as the Part 7 grade's manual_score with a
comment starting with ``[ta-assist]`` that gives its levels per criterion (or the answer it
followed), and recorded, levels included, in ``reports/<assignment>_ta_assist.json``. A manual
score counts as the assistant's only while both say so (the record holds that score and the
comment carries the marker); any other manual score is the TA's -- also one the TA changed after
accepting -- and is never overwritten. The proposals follow the TA's own grades only, never the
assistant's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from traitlets import Bool, List, Unicode

from course import gradebook, similarity
from course.app import PROG, GradebookCommand, launch
from course.context import GradingContext
from course.layout import Layout
from course.ta_assist import CRITERIA, MARKER, Plan, TAAssist, assist
from graders import ASSIGNMENT

TASK = similarity.WRITTEN_TASK  # the Part 7 grade (an nbgrader task cell, 10 points)
# the TA's levels in the grade's comment: "criteria 2 1 2 0 1" (or 2/1/2/0/1), the scheme's order
LEVELS = re.compile(r"criteria\s*:?\s*" + r"[\s,/]+".join(["([0-2])"] * len(CRITERIA)), re.I)


def levels_in(comment: str | None, score: float | None) -> dict[str, int] | None:
    """criterion -> level, from a TA's comment, when they add up to the score; else None."""
    m = LEVELS.search(comment or "")
    if m is None or score is None:
        return None
    levels = dict(zip(CRITERIA, map(int, m.groups()), strict=True))
    return levels if sum(levels.values()) == float(score) else None


def levels_text(levels: dict[str, int]) -> str:
    return "criteria " + "/".join(str(levels[c]) for c in CRITERIA)


def record_path(layout: Layout) -> Path:
    return layout.reports / f"{layout.assignment}_ta_assist.json"


def page_path(layout: Layout) -> Path:
    return layout.reports / f"{layout.assignment}_ta_assist.html"


def written_answer(nb) -> str:
    """The Part 7 answer: the cell with the answer's id, else the cell after the task."""
    for cell in nb.cells:
        if cell.get("id") == similarity.WRITTEN_ANSWER_ID:
            return cell.source
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == TASK and i + 1 < len(nb.cells):
            return nb.cells[i + 1].source
    return ""


def read_answers(layout: Layout) -> dict[str, str]:
    """student -> their Part 7 answer, from autograded/ (an unreadable notebook: no answer)."""
    out = {}
    for student in layout.students("autograded"):
        path = layout.notebook("autograded", student)
        try:
            out[student] = written_answer(nbformat.read(path, as_version=4))
        except Exception:  # noqa: BLE001 -- one broken notebook is "no answer", not fatal
            out[student] = ""
    return out


def similarity_flags(course: Path, assignment: str) -> dict[str, str]:
    """student -> the similarity report's reason to look at them (its ranked pairs)."""
    result = similarity.analyse(course, assignment)
    out: dict[str, list[str]] = {}
    for p in result.pairs:
        for me, other in ((p.a, p.b), (p.b, p.a)):
            out.setdefault(me, []).append(f"paired with {other}, {p.score:.1f} points")
    return {s: "; ".join(reasons) for s, reasons in out.items()}


@dataclass
class Recorded:
    score: float | None  # the Part 7 manual_score in the gradebook
    comment: str | None
    by_assistant: bool  # an accepted proposal, unchanged since


def read_record(layout: Layout) -> dict:
    path = record_path(layout)
    return json.loads(path.read_text()) if path.exists() else {}


def recorded_grades(gb, layout: Layout, record: dict) -> dict[str, Recorded]:
    """student -> the Part 7 manual grade in the gradebook, and whose it is."""
    out = {}
    assignment = gb.find_assignment(layout.assignment)
    for submission in assignment.submissions:
        student = submission.student_id
        grade = gb.find_grade(TASK, layout.assignment, layout.assignment, student)
        comment = gb.find_comment(TASK, layout.assignment, layout.assignment, student)
        text = comment.manual_comment
        entry = record.get(student)
        ours = (
            grade.manual_score is not None
            and entry is not None
            and float(entry["score"]) == float(grade.manual_score)
            and (text or "").startswith(MARKER)
        )
        out[student] = Recorded(grade.manual_score, text, ours)
    return out


def plan_for(grading: GradingContext, cfg: TAAssist | None = None, flags=None):
    """The plan (groups, proposals) and the gradebook's Part 7 grades."""
    layout = grading.layout
    cfg = cfg or TAAssist(config=layout.config)
    answers = read_answers(layout)
    flags = similarity_flags(grading.root, grading.assignment) if flags is None else flags
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        recorded = recorded_grades(gb, layout, read_record(layout))
    ta_grades = {
        s: float(r.score) for s, r in recorded.items() if r.score is not None and not r.by_assistant
    }
    ta_levels = {s: levels_in(recorded[s].comment, score) for s, score in ta_grades.items()}
    ta_levels = {s: levels for s, levels in ta_levels.items() if levels is not None}
    plan = assist(answers, ta_grades, flags, cfg, ta_levels=ta_levels)
    return plan, recorded


def basis(item) -> str:
    """What a proposal rests on, for the comment and the command's output."""
    if item.levels is not None:
        named = ", ".join(f"{c} {item.levels[c]}" for c in CRITERIA)
        return f"{levels_text(item.levels)} ({named}), from the TA's grades by criterion"
    return f"as for {item.follows}'s answer, which the TA graded"


def accept(grading: GradingContext, plan: Plan, students: list[str] | None) -> list[str]:
    """Write the proposals of `students` (None: all) as manual grades; a TA's own grade stays.
    Returns one line per student: what was done."""
    layout = grading.layout
    record = read_record(layout)
    lines = []
    chosen = plan.proposals() if students is None else [plan.items[s] for s in students]
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        recorded = recorded_grades(gb, layout, record)
        for item in chosen:
            s = item.student
            now = recorded.get(s)
            if now is None:
                lines.append(f"{s}: no submission in the gradebook, nothing written")
            elif item.proposal is None:
                lines.append(f"{s}: no proposal ({item.abstained or 'graded by the TA'})")
            elif now.score is not None and not now.by_assistant:
                lines.append(f"{s}: kept the TA's grade {now.score:g} (not overwritten)")
            elif now.by_assistant and float(now.score) == item.proposal:
                lines.append(f"{s}: already accepted ({item.proposal:g})")
            else:
                grade = gb.find_grade(TASK, layout.assignment, layout.assignment, s)
                comment = gb.find_comment(TASK, layout.assignment, layout.assignment, s)
                grade.manual_score = item.proposal
                grade.needs_manual_grade = False
                comment.manual_comment = f"{MARKER} {item.proposal:g}/10 {basis(item)}; " + (
                    "proposed by the assistant and accepted by the TA."
                )
                gb.db.commit()
                record[s] = {
                    "score": item.proposal,
                    "criteria": item.levels,
                    "follows": item.follows,
                    "accepted": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                lines.append(f"{s}: {item.proposal:g} accepted ({basis(item)})")
    path = record_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return lines


def accepted_count(grading: GradingContext) -> int:
    """Part 7 grades in the gradebook that are accepted proposals, unchanged since."""
    record = read_record(grading.layout)
    if not record:
        return 0
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        recorded = recorded_grades(gb, grading.layout, record)
    return sum(r.by_assistant for r in recorded.values())


def write_page(grading: GradingContext, plan: Plan, recorded) -> Path:
    from course.ta_assist_page import render

    path = page_path(grading.layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(grading.assignment, plan, recorded, TAAssist(config=grading.config)))
    return path


class TAAssistApp(GradebookCommand):
    name = f"{PROG} ta-assist"
    description = (
        "Part 7: group the answers, propose scores from the TA's grades (a page in reports/); "
        "`accept` writes proposals the TA accepts as manual grades."
    )
    positional = ("[page|accept]",)
    assignment = Unicode(ASSIGNMENT, help="The assignment.").tag(config=True)
    student = List(Unicode(), help="accept: this student's proposal (repeatable).").tag(config=True)
    everyone = Bool(False, help="accept: every proposal.").tag(config=True)
    options = {"assignment": "assignment", "student": "student"}
    switches = {"all": "everyone"}

    def run(self) -> int:
        action = self.extra_args[0] if self.extra_args else "page"
        if action not in ("page", "accept"):
            self.fail(f"the action is page or accept, not {action!r}")
        if self.everyone and self.student:
            self.fail("give --student or --all, not both")
        grading = self.grading(self.assignment, self.db_url)
        plan, recorded = plan_for(grading)
        if action == "accept":
            if not (self.everyone or self.student):
                self.fail("accept needs --student ID (repeatable) or --all")
            unknown = sorted(set(self.student) - set(plan.items))
            if unknown:
                self.fail(f"no Part 7 answer for: {', '.join(unknown)}")
            for line in accept(grading, plan, None if self.everyone else list(self.student)):
                print(line)
            plan, recorded = plan_for(grading)
        path = write_page(grading, plan, recorded)
        counts = f"{len(plan.items)} answers, {len(plan.groups)} groups"
        print(f"{counts}, {len(plan.proposals())} proposals; page: {path}")
        return 0


def main(argv=None) -> int:
    return launch(TAAssistApp, argv)


if __name__ == "__main__":
    raise SystemExit(main())
