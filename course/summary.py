"""TA summary of one assignment: scores from nbgrader's gradebook API, messages and flags
from the autograded notebooks, written as Markdown to ``reports/<assignment>_summary.md``;
beside it the similarity report (``<assignment>_similarity.html``, course/similarity.py) and
the item analysis (``<assignment>_items.csv``, course/item_analysis.py), summarised in the
page's "Possible copying" and "Items" sections. Neither changes a grade.

    python -m course.summary [--course DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import re
from collections import Counter
from pathlib import Path

import jinja2
import nbformat

from course import (
    audit,
    gradebook,
    integrity,
    item_analysis,
    similarity,
    ta_assist_class,
    templates,
)
from course.context import GradingContext
from course.exchange import duration, utc
from course.layout import COURSE_ROOT, Layout
from graders import ASSIGNMENT

ANSI = re.compile(r"\x1b\[[0-9;]*m")
MANUAL_TASK = "explain_accuracy_gain"
UNANSWERED = "YOUR ANSWER HERE"  # the release's stub for a written answer


def _grade_cells(nb):
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }


def _failure_message(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            text = f"{out.get('ename')}: {out.get('evalue')}"
            return ANSI.sub("", text).strip()[:200]
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "wrote to stderr: " + ANSI.sub("", "".join(out.get("text", "")))[:150]
    return None


def _flags(layout: Layout, student: str, released: dict[str, str], graded_nb) -> list[str]:
    flags = integrity.tampering(layout.root, student, released, layout.assignment)
    if graded_nb is not None:
        for cell in graded_nb.cells:
            for out in cell.get("outputs", []):
                gid = cell.metadata.get("nbgrader", {}).get("grade_id", "an unlocked cell")
                if out.get("ename") == "CellTimeoutError":
                    flags.append(f"timeout in {gid}")
                elif out.get("ename") == "KernelStopped":  # a sandbox limit or a killed kernel
                    flags.append(f"stopped in {gid}: {out.get('evalue')}")
    return flags


def _answer_after_task(nb) -> str:
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == MANUAL_TASK:
            following = nb.cells[i + 1].source.strip() if i + 1 < len(nb.cells) else ""
            return following or "(empty)"
    return "(task cell missing)"


def collect(course, db_url: str | None = None, assignment_id: str = ASSIGNMENT) -> dict:
    """Everything the page shows, from the gradebook, the runs log, the autograded notebooks
    and the integrity records of one assignment (its notebook has the assignment's name)."""
    grading = GradingContext.of(course, assignment_id, db_url)
    course, layout, assignment_id = grading.root, grading.layout, grading.assignment
    notebook = assignment_id
    runs = {}
    if layout.runs_log.exists():
        runs = {r["student"]: r for r in json.loads(layout.runs_log.read_text())}
    rows, failures, flagged, manual, late = [], Counter(), {}, [], []
    released = integrity.released_locked_cells(course, assignment_id)
    cache_audit = audit.read(course, assignment_id)
    changed_by_submission = cache_audit.flagged if cache_audit else {}
    with gradebook.open_gradebook(course, grading.db_url) as gb:
        assignment = gb.find_assignment(assignment_id)
        due = assignment.duedate
        grade_ids = [c.name for c in gb.find_notebook(notebook, assignment_id).grade_cells]
        passed = Counter()
        for submission in sorted(assignment.submissions, key=lambda s: s.student_id):
            student = submission.student_id
            nb_sub = gb.find_submission_notebook(notebook, assignment_id, student)
            scores = {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in nb_sub.grades}
            autograded = layout.notebook("autograded", student)
            graded_nb = nbformat.read(autograded, as_version=4) if autograded.exists() else None
            rows.append(
                {
                    "student": student,
                    "graded": graded_nb is not None,
                    "auto": submission.code_score,
                    "max_auto": assignment.max_code_score,
                    "total": submission.score,
                    "max": assignment.max_score,
                    "scores": scores,
                }
            )
            for gid, (score, max_score, _) in scores.items():
                if max_score and score == max_score:
                    passed[gid] += 1
            if graded_nb is not None:  # each message once per student: a dead kernel is one
                cells = _grade_cells(graded_nb).values()
                failures.update({m for m in map(_failure_message, cells) if m})
            flags = _flags(layout, student, released, graded_nb)
            recorded = {g: s[0] for g, s in scores.items()}
            flags += integrity.flags(course, student, recorded, assignment_id)
            if student in changed_by_submission:
                flags.append(
                    "the cache audit trained this submission for real and it gave another "
                    f"result ({changed_by_submission[student]}): graded on the real training"
                )
            run = runs.get(student)
            if run and run.get("note"):
                flags.append(run["note"])
            if run and not run["ok"]:
                flags.append(f"not graded: {run['reason']}")
            for g in nb_sub.grades:
                if g.name == MANUAL_TASK and g.needs_manual_grade and graded_nb is not None:
                    answer = _answer_after_task(graded_nb)
                    if answer.strip() in (UNANSWERED, "(empty)"):
                        flags.append(NO_ANSWER)
                        answer = f"(no written answer: the cell still reads {answer!r})"
                    manual.append((student, answer))
            if flags:
                flagged[student] = flags
            if submission.total_seconds_late > 0:  # nbgrader's: timestamp.txt vs the due date
                late.append(
                    {
                        "student": student,
                        "submitted": utc(submission.timestamp),
                        "late_by": duration(submission.total_seconds_late),
                        "penalty": submission.late_submission_penalty or 0.0,
                    }
                )
        for student, run in runs.items():
            if not run["ok"] and student not in flagged:
                flagged[student] = [f"not graded: {run['reason']}"]
    graded = {
        r["student"]: {g: (s[0], s[1]) for g, s in r["scores"].items()} for r in rows if r["graded"]
    }
    return {
        "assignment": assignment_id,
        "rows": rows,
        "grade_ids": grade_ids,
        "passed": passed,
        "failures": failures,
        "flagged": flagged,
        "manual": manual,
        "late": {"due": utc(due) if due else "", "students": late},
        "cache_audit": _audit_view(cache_audit),
        "ta_assist": ta_assist_class.accepted_count(grading),  # Part 7 grades from proposals
        **class_reports(course, assignment_id, graded, grade_ids),
    }


def _audit_view(done: audit.Audit | None) -> dict | None:
    """What the batch's cache audit did, for the page (None: no hit was audited)."""
    if done is None or not done.audited:
        return None
    return {
        "line": done.line(),
        "audited": sorted(done.audited.items()),
        "entries": sorted(done.entries.items()),
        "disabled": done.disabled,
        "regraded": done.regraded,
    }


def class_reports(course: Path, assignment: str, grades: dict, grade_ids: list[str]) -> dict:
    """The similarity report and the item analysis of the submitted notebooks: "copying" and
    "items" for the page, "_similarity" and "_items" for the files beside it. A failure here
    is written on the page; it never stops the summary (the grades are already recorded)."""
    layout = Layout(Path(course), assignment)
    out = {}
    try:
        template = similarity.load_template(layout)
        subs, skipped = similarity.read_class(course, assignment, template)
    except Exception as error:  # noqa: BLE001
        problem = f"{type(error).__name__}: {error}"
        return {
            "copying": {**NO_COPYING, "error": problem},
            "items": {**NO_ITEMS, "error": problem},
        }
    try:
        result = similarity.compare(
            subs,
            template,
            grades,
            solution=similarity.solution_fingerprints(layout, template),
            skipped=skipped,
            assignment=assignment,
        )
        out["_similarity"] = result
        out["copying"] = {
            **NO_COPYING,
            "n": len(result.students),
            "pairs": similarity.summary_rows(result),
            "listed": len(result.pairs),
            "skipped": result.skipped,
            "notes": result.notes,
            "report": f"reports/{assignment}_similarity.html",
        }
    except Exception as error:  # noqa: BLE001
        out["copying"] = {**NO_COPYING, "error": f"{type(error).__name__}: {error}"}
    try:
        judged = {
            sub.student: item_analysis.judged_answers(layout.grading_dir(sub.student), template)
            for sub in subs
        }
        analysis = item_analysis.analyse(grades, grade_ids, subs, template, judged)
        out["_items"] = analysis
        out["items"] = {
            **NO_ITEMS,
            **item_analysis.summary_data(analysis),
            "csv": f"reports/{assignment}_items.csv",
        }
    except Exception as error:  # noqa: BLE001
        out["items"] = {**NO_ITEMS, "error": f"{type(error).__name__}: {error}"}
    return out


NO_COPYING = {
    "n": 0,
    "pairs": [],
    "listed": 0,
    "skipped": [],
    "notes": [],
    "report": "",
    "error": "",
}
NO_ITEMS = {"n": 0, "grades": [], "answers": [], "csv": "", "error": ""}
NO_LATE = {"due": "", "students": []}


NO_ANSWER = "no written answer (the free-text cell is unchanged)"
# What a TA looks at before anything else, in this order: (what, words of the flags it covers).
ACT_FIRST = (
    ("not graded", ("not graded:",)),
    ("notebook written for another student's id", ("written for another student's model",)),
    ("locked cells edited (tampering)", ("tampering:",)),
    (
        "in-notebook checks disagree with the verifier",
        ("the grader verified", "the verifier failed", "the gradebook holds"),
    ),
    ("kernel stopped or a cell hit its limit", ("stopped in ", "kernel died", "timeout in ")),
    ("cache audit: the real training differs", ("the cache audit trained this submission",)),
)
ACT_FIRST_LINES = 10


def act_first(flagged: dict[str, list[str]], pairs: list[dict]) -> list[str]:
    """At most ACT_FIRST_LINES lines: each kind of problem with its students, then the
    similarity report's pairs joined into clusters (a copy ring is one line, not many)."""
    lines, named = [], set()
    for what, words in ACT_FIRST:  # each student under the first kind that covers them
        students = sorted(
            s
            for s, fl in flagged.items()
            if s not in named and any(w in f for f in fl for w in words)
        )
        named.update(students)
        if students:
            lines.append(f"**{what}** ({len(students)}): {', '.join(students)}")
    clusters = _clusters(pairs)
    room = ACT_FIRST_LINES - len(lines)
    shown = clusters if len(clusters) <= room else clusters[: room - 1]  # the last: "N more"
    for cluster in shown:
        lines.append(f"**possible copying**: {', '.join(cluster)} (similarity report below)")
    if len(shown) < len(clusters):
        lines.append(f"**possible copying**: {len(clusters) - len(shown)} more groups below")
    return lines


def _clusters(pairs: list[dict]) -> list[list[str]]:
    """Students linked by listed pairs, strongest pair first (union-find)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for p in pairs:
        parent[root(p["a"])] = root(p["b"])
    groups: dict[str, list[str]] = {}
    for p in pairs:  # first seen = the strongest pair of its group (pairs come ranked)
        for student in (p["a"], p["b"]):
            members = groups.setdefault(root(student), [])
            if student not in members:
                members.append(student)
    return [sorted(g) for g in groups.values()]


def render(data: dict) -> str:
    """The page, from ``collect()``'s data: numbers here, layout in templates/ta_summary.md.j2."""
    rows = data["rows"]
    copying = {**NO_COPYING, **data.get("copying", {})}
    unanswered = sorted(s for s, flags in data["flagged"].items() if NO_ANSWER in flags)
    flagged = {s: [f for f in fl if f != NO_ANSWER] for s, fl in data["flagged"].items()}
    flagged = {s: fl for s, fl in flagged.items() if fl}
    max_auto = int(rows[0]["max_auto"] if rows else 90)
    top = max_auto // 10  # the last bucket holds full marks
    buckets = Counter(min(int((r["auto"] or 0) // 10), top) for r in rows)
    return _template().render(
        assignment=data.get("assignment", ASSIGNMENT),
        manual_task=MANUAL_TASK,
        n=len(rows),
        graded=sum(r["graded"] for r in rows),
        histogram=[(b * 10, min(b * 10 + 9, max_auto), buckets.get(b, 0)) for b in range(top + 1)],
        full_marks=[
            (gid, data["passed"].get(gid, 0)) for gid in data["grade_ids"] if gid != MANUAL_TASK
        ],
        failures=data["failures"].most_common(10),
        act_first=act_first(flagged, copying["pairs"]),
        flagged=sorted(flagged.items()),
        unanswered=unanswered,
        manual=[(s, a) for s, a in data["manual"] if s not in unanswered],
        rows=rows,
        copying=copying,
        items={**NO_ITEMS, **data.get("items", {})},
        late={**NO_LATE, **data.get("late", {})},
        cache_audit=data.get("cache_audit"),
        ta_assist=data.get("ta_assist"),
        min_points=similarity.REPORT_MIN,
    )


@functools.cache
def _template() -> jinja2.Template:
    return templates.load(
        "ta_summary.md.j2",
        g=lambda x: f"{x:g}",
        percent=lambda x: f"{x:.0%}",
        cell=lambda x: str(x).replace("|", "\\|").replace("\n", " "),
    )


def write_summary(course=COURSE_ROOT, db_url: str | None = None, assignment=ASSIGNMENT) -> Path:
    """`course`: a GradingContext, or a course folder (with `db_url`, else its own gradebook)."""
    grading = GradingContext.of(course, assignment, db_url)
    data = collect(grading)
    course, assignment, reports = grading.root, grading.assignment, grading.layout.reports
    reports.mkdir(exist_ok=True)
    if "_similarity" in data:
        similarity.write_report(course, data["_similarity"])
    if "_items" in data:
        item_analysis.write_csv(data["_items"], reports / f"{assignment}_items.csv")
    path = reports / f"{assignment}_summary.md"
    path.write_text(render(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--course", type=Path, default=COURSE_ROOT)
    args = parser.parse_args()
    print(f"TA summary written to {write_summary(args.course)}")


if __name__ == "__main__":
    main()
