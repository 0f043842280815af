"""TA summary of one assignment: scores from nbgrader's gradebook API, messages and flags
from the autograded notebooks, written as Markdown to ``reports/<assignment>_summary.md``;
beside it the similarity report (``<assignment>_similarity.html``, course/similarity/) and
the item analysis (``<assignment>_items.csv``, course/item_analysis.py), summarised in the
page's "Possible copying" and "Items" sections. Neither changes a grade. Points lost are
listed by cause, not by message (failure_cause): one earlier failure is one line.

    python -m course summary [--course DIR] [--db-url URL]
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections import Counter
from dataclasses import dataclass
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
from course.app import PROG, GradebookCommand, launch
from course.context import GradingContext
from course.exchange import duration, utc
from course.layout import Layout
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


# Why an automatic item lost points: the cause, not the symptom. Items lost to one cause are
# one line of the page ("5 students: Part 3/5: ... -> conv_test_accuracy, shift_reading").
# In this order of precedence: an item with several failing lines is filed under the first.
STOPPED = "a cell ran past its time limit, or the kernel stopped"
NOT_VERIFIED = "the verifier could not judge the cell"
REPLACED = "the grader's part of the cell left no result (the cell was replaced)"
NOT_TRAINED = "Part 3/5: the conv model was not trained"
NO_ID = "STUDENT_ID not set (Part 4 is judged on the model it names)"
LEFT_UNANSWERED = "left unanswered (`...`, or the release's NotImplementedError)"
FORMAT = "answer not in the form asked (the visible check's format message)"
JUDGED_WRONG = "answers judged wrong (the values: items table)"
NO_MESSAGE = "no message in the graded cell (see the autograded notebook)"
CAUSES = (STOPPED, NOT_VERIFIED, REPLACED, NOT_TRAINED, NO_ID, LEFT_UNANSWERED, FORMAT)
# Messages of graders/hidden.py, graders/accuracy.py and c1w3_checks.py, by cause.
_SIGNS = (
    (STOPPED, ("CellTimeoutError", "KernelStopped", "timed out", "kernel died")),
    (NOT_VERIFIED, ("could not verify this cell",)),
    (REPLACED, ("left no result",)),
    (
        NOT_TRAINED,
        (
            "measured nothing to read",  # hidden.NOT_MEASURED
            "needs the conv model",  # c1w3_checks.require_trained_model
            "did not finish",  # check_training_finished: a training cell stopped
            "the trained model is neither",  # accuracy.judge: Part 5 trained no lab model
        ),
    ),
    (NO_ID, ("STUDENT_ID is not set",)),
    (LEFT_UNANSWERED, ("NotImplementedError", "is not written yet")),
    (
        FORMAT,
        (
            "AnswerFormatError",
            "write an output shape as",
            "write a whole number like",
            "write a number like",
            "write a pair (output_shape",
            "answer with one of",
            "whole numbers, got",
            "one per layer, it has",
            "pair per layer",
        ),
    ),
)
_ELLIPSIS = re.compile(r"\bEllipsis\b")  # repr(...): an answer left as the release's `...`
_NOT_DEFINED = re.compile(r"name '(\w+)' is not defined|^(\w+) is not defined: the cell")
_STOPPED_FIRST = re.compile(r"the cell stopped first: (.*)\)$")
_WRONG_WORDS = ("you predicted", "you wrote", "you chose", "; you: ")  # a judged answer
CAUSE_LINES = 12  # cause lines on the page; the rest are counted
CAUSE_STUDENTS = 10  # students named per cause line


@dataclass(frozen=True)
class Definer:
    """The cell that defines a name the notebook reads: a provided cell (after the conv
    model's training cell or before it) or the student's own, and the error it showed."""

    provided: bool
    after_training: bool
    error: str | None


def _error(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return ANSI.sub("", f"{out.get('ename')}: {out.get('evalue')}").strip()[:300]
    return None


def _names(source: str) -> set[str]:
    """Names a cell defines at its top level (assignments, functions, classes, imports)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # the student's cell: what it meant to define
        return set(re.findall(r"^(\w+)\s*=", source, re.MULTILINE))
    names = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return names


def definers(nb) -> dict[str, Definer]:
    """name -> the first cell that defines it. The conv model's training cell is the first
    provided cell that defines what conv_test_accuracy's check reads (conv_model)."""
    from graders import registry

    trained_name = registry.CHECKS["conv_test_accuracy"].reads[0]
    out: dict[str, Definer] = {}
    after = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        provided = not cell.metadata.get("nbgrader", {}).get("solution")
        names = _names(cell.source)
        after = after or (provided and trained_name in names)
        for name in names:
            out.setdefault(name, Definer(provided, after and provided, _error(cell)))
    return out


def failure_cause(message: str, defined: dict[str, Definer] | None = None, depth: int = 0) -> str:
    """The cause of one failing line a student saw, for the page (see CAUSES): a fixed
    cause, or the message itself (a model's first difference, a code check's result)."""
    defined = defined or {}
    found = _STOPPED_FIRST.search(message)
    message = found.group(1) if found else message
    if _ELLIPSIS.search(message):
        return LEFT_UNANSWERED
    for cause, signs in _SIGNS:
        if any(sign in message for sign in signs):
            return cause
    missing = _NOT_DEFINED.search(message)
    if missing:
        name = missing.group(1) or missing.group(2)
        definer = defined.get(name)
        if definer is None:
            return f"`{name}` is not defined (the cell that defines it did not run)"
        if definer.provided:
            if definer.after_training:  # the cells after Part 5's training need its model
                return NOT_TRAINED
            return f"the provided cell that defines `{name}` failed"
        if definer.error is None:  # the kernel stopped before it, or it was never run
            return f"their cell that defines `{name}` did not run"
        cause = failure_cause(definer.error, defined, depth + 1) if depth < 3 else ""
        if cause in CAUSES:
            return cause
        return f"their cell that defines `{name}` raised {definer.error.split(':')[0]}"
    if any(words in message for words in _WRONG_WORDS):
        return JUDGED_WRONG
    for prefix in ("CheckFailed: ", "AssertionError: ", "Failed test case: "):
        message = message.removeprefix(prefix)
    return message.strip()[:200]


def _rank(cause: str) -> int:
    if cause in CAUSES:
        return CAUSES.index(cause)
    return len(CAUSES) + (cause == JUDGED_WRONG)


def _failure_lines(cell) -> list[str]:
    """What the cell says about its lost points: the verifier's WRONG items and other lines,
    or (no verdict in it) its errors and its writes to stderr."""
    said = item_analysis.verifier_lines(cell)
    lines = [m for ok, m in said[0] if not ok] + said[1] if said else []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and (not said or out.get("ename") != "CheckFailed"):
            lines.append(ANSI.sub("", f"{out.get('ename')}: {out.get('evalue')}").strip())
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            lines.append("wrote to stderr: " + ANSI.sub("", "".join(out.get("text", "")))[:150])
    return lines


def lost_items(nb, scores: dict) -> dict[str, str]:
    """grade id -> cause, for each automatic item of this autograded notebook that lost
    points (`scores`: grade id -> (score, max score, needs a manual grade))."""
    cells, defined, out = _grade_cells(nb), definers(nb), {}
    for gid, (score, max_score, manual) in scores.items():
        if gid == MANUAL_TASK or manual or not max_score or (score or 0) >= max_score:
            continue
        cell = cells.get(gid)
        causes = [failure_cause(m, defined) for m in (_failure_lines(cell) if cell else [])]
        out[gid] = min(causes, key=_rank) if causes else NO_MESSAGE
    return out


def failure_causes(failures: dict[str, dict[str, str]], grade_ids: list[str]) -> list[dict]:
    """One entry per cause: its students and the items they lost to it, most students
    first. `failures`: student -> grade id -> cause (lost_items)."""
    by_cause: dict[str, tuple[set, Counter]] = {}
    for student, items in failures.items():
        for gid, cause in items.items():
            students, counts = by_cause.setdefault(cause, (set(), Counter()))
            students.add(student)
            counts[gid] += 1
    order = {gid: i for i, gid in enumerate(grade_ids)}
    out = []
    for cause, (students, counts) in by_cause.items():
        n = len(students)
        named = sorted(students)
        out.append(
            {
                "cause": cause if cause in (*CAUSES, JUDGED_WRONG, NO_MESSAGE) else f"`{cause}`",
                "n": n,
                "lost": ", ".join(
                    f"`{g}`" + (f" ({counts[g]})" if counts[g] < n else "")
                    for g in sorted(counts, key=lambda g: (order.get(g, len(order)), g))
                ),
                "students": ", ".join(named[:CAUSE_STUDENTS])
                + (f" and {n - CAUSE_STUDENTS} more" if n > CAUSE_STUDENTS else ""),
                "_key": (-n, _rank(cause), cause),
            }
        )
    out.sort(key=lambda c: c["_key"])
    return [{k: v for k, v in c.items() if k != "_key"} for c in out]


def _flags(layout: Layout, student: str, released: dict[str, str], graded_nb) -> list[str]:
    flags = integrity.tampering(layout, student, released)
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


def collect(grading: GradingContext) -> dict:
    """Everything the page shows, from the gradebook, the runs log, the autograded notebooks
    and the integrity records of one assignment (its notebook has the assignment's name)."""
    course, layout, assignment_id = grading.root, grading.layout, grading.assignment
    notebook = assignment_id
    runs = {}
    if layout.runs_log.exists():
        runs = {r["student"]: r for r in json.loads(layout.runs_log.read_text())}
    rows, failures, verdicts, flagged, manual, late = [], {}, {}, {}, [], []
    released = integrity.released_locked_cells(layout)
    cache_audit = audit.read(course, assignment_id)
    changed_by_submission = cache_audit.flagged if cache_audit else {}
    with gradebook.open_gradebook(course, grading.db_url) as gb:
        assignment = gb.find_assignment(assignment_id)
        due = assignment.duedate
        grade_ids = [c.name for c in gb.find_notebook(notebook, assignment_id).grade_cells]
        for submission in sorted(assignment.submissions, key=lambda s: s.student_id):
            student = submission.student_id
            nb_sub = gb.find_submission_notebook(notebook, assignment_id, student)
            scores = {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in nb_sub.grades}
            autograded = layout.notebook("autograded", student)
            graded_nb = nbformat.read(autograded, as_version=4) if autograded.exists() else None
            ta = scores.get(MANUAL_TASK)
            rows.append(
                {
                    "student": student,
                    "graded": graded_nb is not None,
                    "auto": submission.code_score,
                    "max_auto": assignment.max_code_score,
                    "ta": None if ta is None or ta[2] else ta[0],  # None: pending
                    "max_ta": ta[1] if ta else 0.0,
                    "total": submission.score,
                    "max": assignment.max_score,
                    "scores": scores,
                }
            )
            if graded_nb is not None:  # items lost, by cause: a dead kernel is one cause
                failures[student] = lost_items(graded_nb, scores)
                verdicts[student] = item_analysis.answer_verdicts(graded_nb)
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
    graded = {  # a TA's grade still pending is no score (not a 0)
        r["student"]: {g: (None if s[2] else s[0], s[1]) for g, s in r["scores"].items()}
        for r in rows
        if r["graded"]
    }
    return {
        "assignment": assignment_id,
        "rows": rows,
        "grade_ids": grade_ids,
        "failures": failures,
        "flagged": flagged,
        "manual": manual,
        "late": {"due": utc(due) if due else "", "students": late},
        "cache_audit": _audit_view(cache_audit),
        "ta_assist": ta_assist_class.accepted_count(grading),  # Part 7 grades from proposals
        **class_reports(course, assignment_id, graded, grade_ids, verdicts),
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


def class_reports(
    course: Path,
    assignment: str,
    grades: dict,
    grade_ids: list[str],
    verdicts: dict[str, dict[str, bool]] | None = None,
) -> dict:
    """The similarity report and the item analysis of the submitted notebooks: "copying" and
    "items" for the page, "_similarity" and "_items" for the files beside it. A failure here
    is written on the page; it never stops the summary (the grades are already recorded).
    `verdicts`: student -> answer -> the verifier judged it right (answer_verdicts)."""
    layout = Layout(Path(course), assignment)
    out = {}
    automatic = [g for g in grade_ids if g != MANUAL_TASK]  # ranks students: a pending TA
    try:  # grade moves nobody
        template = similarity.load_template(layout)
        subs, skipped = similarity.read_class(course, assignment, template)
    except Exception as error:  # noqa: BLE001
        problem = f"{type(error).__name__}: {error}"
        try:  # the scores alone still give the items table, without the answers
            analysis = item_analysis.analyse(grades, grade_ids, ranked_by=automatic)
            items = {**item_analysis.summary_data(analysis), "answers_error": problem}
        except Exception as error:  # noqa: BLE001
            items = {"error": f"{type(error).__name__}: {error}"}
        return {"copying": {**NO_COPYING, "error": problem}, "items": {**NO_ITEMS, **items}}
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
            "markdown": similarity.render_markdown(result),  # grouped by cluster
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
        analysis = item_analysis.analyse(
            grades,
            grade_ids,
            subs,
            template,
            judged,
            verdicts,
            ranked_by=automatic,
        )
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
    "markdown": "",
    "listed": 0,
    "skipped": [],
    "notes": [],
    "report": "",
    "error": "",
}
NO_ITEMS = {"n": 0, "grades": [], "other_answers": [], "csv": "", "error": "", "answers_error": ""}
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
    # One set of totals on the whole page: automatic of max_auto, the TA's part of max_ta,
    # and their sum of max_total; a total waits for the TA's part (never "42.5/100" beside
    # "42.5/90" for one student).
    max_auto = rows[0]["max_auto"] if rows else 90.0
    max_total = rows[0]["max"] if rows else 100.0
    max_ta = rows[0].get("max_ta") if rows else None
    max_ta = max_ta or (max_total - max_auto)
    top = int(max_auto) // 10  # the last bucket holds full marks
    buckets = Counter(min(int((r["auto"] or 0) // 10), top) for r in rows if r["graded"])
    return _template().render(
        assignment=data.get("assignment", ASSIGNMENT),
        manual_task=MANUAL_TASK,
        n=len(rows),
        graded=sum(r["graded"] for r in rows),
        points={"auto": max_auto, "ta": max_ta, "total": max_total},
        histogram=[
            (b * 10, min(b * 10 + 9, int(max_auto)), buckets.get(b, 0)) for b in range(top + 1)
        ],
        causes=failure_causes(data["failures"], data["grade_ids"]),
        cause_lines=CAUSE_LINES,
        scores=[_score_row(r) for r in rows],
        act_first=act_first(flagged, copying["pairs"]),
        flagged=sorted(flagged.items()),
        unanswered=unanswered,
        manual=[(s, a) for s, a in data["manual"] if s not in unanswered],
        copying=copying,
        items={**NO_ITEMS, **data.get("items", {})},
        late={**NO_LATE, **data.get("late", {})},
        cache_audit=data.get("cache_audit"),
        ta_assist=data.get("ta_assist"),
        min_points=similarity.REPORT_MIN,
        min_class=item_analysis.MIN_CLASS,
    )


def _score_row(row: dict) -> tuple[str, str, str, str]:
    """(student, automatic, TA's part, total) as the Scores table shows them."""
    ta = row.get("ta")
    if not row["graded"]:
        return row["student"], "not graded", "-", "-"
    return (
        row["student"],
        f"{row['auto'] or 0:g}",
        "pending" if ta is None else f"{ta:g}",
        "pending" if ta is None else f"{row['total'] or 0:g}",
    )


@functools.cache
def _template() -> jinja2.Template:
    return templates.load(
        "ta_summary.md.j2",
        g=lambda x: f"{x:g}",
        percent=lambda x: f"{x:.0%}",
        cell=lambda x: str(x).replace("|", "\\|").replace("\n", " "),
    )


def write_summary(grading: GradingContext) -> Path:
    """reports/<assignment>_summary.md, and the similarity report and item analysis beside it."""
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


class SummaryApp(GradebookCommand):
    name = f"{PROG} summary"
    description = "Write the TA summary (and the similarity report and item analysis beside it)."

    def run(self) -> int:
        print(f"TA summary written to {write_summary(self.grading(db_url=self.db_url))}")
        return 0


def main(argv=None) -> int:
    return launch(SummaryApp, argv)


if __name__ == "__main__":
    raise SystemExit(main())
