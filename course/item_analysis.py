"""Item analysis of one assignment: how hard each item was, whether it separates strong from
weak students, and which wrong answers the class gave. For the TA summary's "Items" table
and ``reports/<assignment>_items.csv``.

Per grade id, from the gradebook's scores: the mean, the share of full marks, the difficulty
``p`` (the mean share of the item's points: 1 = everyone got everything), the point-biserial
correlation of the item with the rest of the total (``r``), and the upper-lower index (``D``:
the mean share of the item's points in the top 27 % by the rest of the total minus that in
the bottom 27 %). Flags: "most strong students miss it" (fewer than half of the top 27 % have
full marks: the question, its checks or its expected value may be broken), "strong students
score lower than weak ones" (D < 0) and "nobody misses it". Where D and r cannot mean
anything (a small class, a tied class) the item carries a note instead of the D-based flags
(discrimination_note, the one rule).

Per answer name of the template (the value the verifier judged, from the hidden cell's saved
payload in the autograded ``_grading/`` folder, so an answer computed by code counts as its
value; else read with ``ast`` from the submitted notebook, never executed): how many
answered, the most common wrong answers with counts, and for a multiple-choice answer how
many chose each option. A value is wrong only when the verifier judged that answer wrong for
that student (its ``WRONG`` lines in the autograded cell, answer_verdicts): a value right for
one student's model is never listed because another student got it wrong.

A statistic a class is too small for is ``None`` ("n/a"): r needs 3 students whose scores
differ, D needs 4.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from course import similarity

UPPER_LOWER = 0.27
MIN_R = 3
MIN_D = 4
WRONG_SHOWN = 3  # most common wrong answers listed per answer
FEW_OPTIONS = 6  # a text answer with at most this many distinct values counts as a choice
# When D (and r) say nothing about an item: discrimination_note. Below MIN_CLASS graded
# students the top and bottom 27 % are 1-2 students each, so one student moves D by 0.5 or
# more; when TIED_SHARE of the class has the same score on the item (nearly everyone passed,
# or nearly everyone failed) both groups hold that score and D is ~0, or set by the one or two
# students who differ, whatever the item's quality; and when the rest of the total does not
# separate the top group from the bottom one there are no "strong" and "weak" students to
# compare (which tied student lands in which group is an accident of sorting).
MIN_CLASS = 10
TIED_SHARE = 0.9
TOO_SMALL = "class too small: D not meaningful (fewer than {min} graded students)"
TIED_ITEM = "tied: D not meaningful ({k} of {n} students have the same score on it)"
TIED_REST = "tied: D not meaningful (the rest of the total does not separate a top and a bottom)"

Scores = Mapping[str, Mapping[str, tuple[float | None, float]]]  # student -> id -> (score, max)


@dataclass
class GradeItem:
    grade_id: str
    n: int
    max_score: float
    mean: float | None
    full_share: float | None
    r_rest: float | None
    d_27: float | None
    flags: list[str] = field(default_factory=list)
    note: str | None = None  # why D and r mean nothing here (discrimination_note), or None
    full: int = 0  # students with full marks

    @property
    def difficulty(self) -> float | None:
        """p, the mean share of the item's points (1: everyone got everything)."""
        if self.mean is None or not self.max_score:
            return None
        return self.mean / self.max_score


@dataclass
class AnswerItem:
    name: str
    grade_ids: list[str]
    answered: int
    wrong: list[tuple[str, int]]  # (value shown, students), most common first
    options: list[tuple[str, int]] | None  # (option, students) for a multiple-choice answer
    wrong_known: bool  # False: no verdict read, so no value could be judged


@dataclass
class Analysis:
    n: int  # students with scores
    grades: list[GradeItem]
    answers: list[AnswerItem]


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < MIN_R:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / math.sqrt(sxx * syy)


def discrimination_note(scores: list[float], rests: list[float]) -> str | None:
    """Why D and r of an item say nothing about it, or None: the one rule (see MIN_CLASS).
    `scores`: the graded students' scores on the item; `rests`: their rest of the total."""
    n = len(scores)
    if n < MIN_CLASS:
        return TOO_SMALL.format(min=MIN_CLASS)
    k = Counter(round(s, 6) for s in scores).most_common(1)[0][1]
    if k >= TIED_SHARE * n:
        return TIED_ITEM.format(k=k, n=n)
    ordered = sorted(rests)
    g = max(1, round(UPPER_LOWER * n))
    if ordered[g - 1] >= ordered[n - g] - 1e-9:  # the bottom group's best = the top's worst
        return TIED_REST
    return None


def grade_items(
    scores: Scores, grade_ids: Iterable[str], ranked_by: Iterable[str] | None = None
) -> list[GradeItem]:
    """`ranked_by`: the grade ids whose sum (without the item) ranks the students for r and D
    (default: all; the TA summary leaves out a pending TA grade, so it moves nobody)."""
    grade_ids = list(grade_ids)
    ranked_by = set(grade_ids if ranked_by is None else ranked_by)
    out = []
    for gid in grade_ids:
        rows = []  # (student, score, max, rest of the total)
        for student, per_id in sorted(scores.items()):
            got = per_id.get(gid)
            if got is None or got[0] is None:
                continue
            rest = sum(
                s for g, (s, _) in per_id.items() if g != gid and g in ranked_by and s is not None
            )
            rows.append((student, float(got[0]), float(got[1] or 0), float(rest)))
        n = len(rows)
        max_score = max((m for _, _, m, _ in rows), default=0.0)
        if not n:
            out.append(GradeItem(gid, 0, max_score, None, None, None, None))
            continue
        share = [s / m if m else 0.0 for _, s, m, _ in rows]
        full = [m > 0 and s >= m - 1e-9 for _, s, m, _ in rows]
        item = GradeItem(
            gid,
            n,
            max_score,
            sum(s for _, s, _, _ in rows) / n,
            sum(full) / n,
            _pearson([s for _, s, _, _ in rows], [r for _, _, _, r in rows]),
            None,
            note=discrimination_note([s for _, s, _, _ in rows], [r for _, _, _, r in rows]),
            full=sum(full),
        )
        if n >= MIN_D:
            order = sorted(range(n), key=lambda i: (rows[i][3], rows[i][0]))
            g = max(1, round(UPPER_LOWER * n))
            lower, upper = order[:g], order[-g:]
            item.d_27 = sum(share[i] for i in upper) / g - sum(share[i] for i in lower) / g
            if item.note is None:  # D-based flags only where D means something
                if sum(full[i] for i in upper) / g < 0.5:
                    item.flags.append("most strong students miss it (possible broken question)")
                elif item.d_27 < -1e-9:
                    item.flags.append("strong students score lower than weak ones")
        if n >= 2 and item.full_share == 1.0:
            item.flags.append("nobody misses it")
        out.append(item)
    return out


MAX_PAYLOAD = 2**20  # a payload is the submission's file: larger ones are not read
UNANSWERED = {"__opaque__": "Ellipsis"}  # graders.artifacts.plain(...): the release's `...`


def _plain(value):
    """A payload value as Python reads it: graders.artifacts writes tuples as __tuple__."""
    if isinstance(value, dict) and set(value) == {"__tuple__"}:
        return [_plain(v) for v in value["__tuple__"]]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _unanswered(value) -> bool:
    """The value holds the release's `...` somewhere (a stub left as it was, or half of it)."""
    if value == UNANSWERED:
        return True
    if isinstance(value, dict) and set(value) == {"__tuple__"}:
        value = value["__tuple__"]
    return isinstance(value, list) and any(_unanswered(v) for v in value)


def _answer_names(grade_id: str) -> tuple[list[str], list[str]]:
    """(every name the check reads, the answers it judges): graders.registry."""
    from graders import registry

    check = registry.CHECKS.get(grade_id)
    return (list(check.reads), list(check.answers)) if check else ([], [])


def judged_answers(grading_dir: Path, template: similarity.Template) -> dict:
    """answer name -> Answer, the value each hidden check saved for the verifier to judge
    (graders.hidden.collect), for the template's answers; nothing from a missing, linked,
    oversized or malformed file, nor for an answer left as the release's `...`."""
    out = {}
    for grade_id in sorted({g for gids in template.answer_items.values() for g in gids}):
        names, answers = _answer_names(grade_id)
        path = Path(grading_dir) / f"{grade_id}.json"
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_PAYLOAD:
                continue
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        values = payload.get("answers") if isinstance(payload, dict) else None
        if not isinstance(values, list):
            continue
        # _collect_answers saves every name it reads; the checks that also read a provided
        # cell's measurements save only the answers (graders.hidden._collect_shift_reading)
        names = names if len(values) == len(names) else answers
        if len(values) != len(names):
            continue
        for name, value in zip(names, values, strict=True):
            name = name.rstrip("?")
            if name in template.answer_items and value is not None and not _unanswered(value):
                out.setdefault(name, similarity.answer_of_value(_plain(value)))
    return out


VERIFIED = "Graded outside your notebook:"  # course.nbgrader_plugins writes the verdict so


def verifier_lines(cell) -> tuple[list[tuple[bool, str]], list[str]] | None:
    """What the verifier said about one autograded cell: its items as (passed, message), in
    the order it judged them, and its other lines (a check that did not run, could not be
    verified); None when the cell holds no verdict."""
    texts = [
        str(o.get("text", ""))
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and str(o.get("text", "")).startswith(VERIFIED)
    ]
    if not texts:
        return None
    lines = texts[-1].splitlines()[1:]
    items, other = [], []
    for index, line in enumerate(lines):
        text = line.strip()
        if index == 0:  # graders.report: "<id>: k of m correct -> p of q points", or a message
            if " correct -> " not in text:
                other.append(text.split(": ", 1)[-1])
        elif text.startswith("ok "):
            items.append((True, text[3:].strip()))
        elif text.startswith("WRONG "):
            items.append((False, text[6:].strip()))
        elif text and not text.startswith("NOTE "):
            other.append(text)
    return items, other


def answer_verdicts(nb) -> dict[str, bool]:
    """answer name -> the verifier judged it right (True) or wrong (False), from the
    autograded notebook's grade cells; an answer whose items cannot be told apart (the whole
    check failed with one message, or did not run) is left out.

    A check judges its answers in order (graders.hidden): one item each, or the first answer
    several items (one per layer, per stage) and each later answer one; an answer checked by
    two grade ids is wrong if either judged it wrong."""
    out: dict[str, bool] = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or not grade_id:
            continue
        said = verifier_lines(cell)
        _, answers = _answer_names(grade_id)
        if said is None or not answers:
            continue
        items, k = said[0], len(answers)
        if len(items) < k:
            continue
        first = len(items) - k + 1  # the items of the first answer
        groups = [items[:first], *([item] for item in items[first:])]
        for name, group in zip(answers, groups, strict=True):
            out[name] = out.get(name, True) and all(ok for ok, _ in group)
    return out


def answer_items(
    subs: list[similarity.Submission],
    template: similarity.Template,
    verdicts: Mapping[str, Mapping[str, bool]] | None = None,
    judged: Mapping[str, Mapping[str, similarity.Answer]] | None = None,
) -> list[AnswerItem]:
    """`verdicts`: student -> answer name -> judged right (answer_verdicts); a value counts
    as a wrong answer only where the verifier judged it wrong. `judged`: student -> answer
    name -> the value the verifier judged (judged_answers); it replaces what the notebook's
    source says, where there is one."""
    judged, verdicts = judged or {}, verdicts or {}
    subs = [replace(sub, answers={**sub.answers, **judged.get(sub.student, {})}) for sub in subs]
    names = list(template.answer_items) or sorted({n for s in subs for n in s.answers})
    ids = {s.student: s.student_id or s.student for s in subs}
    out = []
    for name in names:
        given = [(s.student, s.answers[name]) for s in subs if name in s.answers]
        if name in template.lettered:  # each student's own letters: count the options
            given = [(st, similarity.as_option(ids[st], name, a)) for st, a in given]
        wrong = Counter()
        shown = {}
        for student, answer in given:
            if verdicts.get(student, {}).get(name) is False:
                wrong[answer.key] += 1
                shown[answer.key] = answer.shown
        options = None
        if name in template.choices:
            chosen = Counter(str(json.loads(a.key)) if a.is_text else a.shown for _, a in given)
            options = [(o, chosen.pop(o, 0)) for o in template.choices[name]]
            options += sorted(chosen.items(), key=lambda kv: (-kv[1], kv[0]))  # off the list
        elif given and all(a.is_text for _, a in given):
            chosen = Counter(str(json.loads(a.key)) for _, a in given)
            if len(chosen) <= FEW_OPTIONS:
                options = sorted(chosen.items(), key=lambda kv: (-kv[1], kv[0]))
        out.append(
            AnswerItem(
                name,
                template.answer_items.get(name, []),
                len(given),
                [(shown[k], c) for k, c in wrong.most_common(WRONG_SHOWN)],
                options,
                any(name in v for v in verdicts.values()),
            )
        )
    return out


def analyse(
    scores: Scores,
    grade_ids: Iterable[str],
    subs: list[similarity.Submission] = (),
    template: similarity.Template | None = None,
    judged: Mapping[str, Mapping[str, similarity.Answer]] | None = None,
    verdicts: Mapping[str, Mapping[str, bool]] | None = None,
    ranked_by: Iterable[str] | None = None,
) -> Analysis:
    """`scores`: student -> grade id -> (score, max score) of the graded submissions (None:
    not graded yet); `subs`: the submitted notebooks as course.similarity reads them;
    `judged`: the values the verifier judged (judged_answers) and `verdicts` what it said of
    each answer (answer_verdicts), per student; `ranked_by`: see grade_items."""
    template = template or similarity.Template()
    subs = list(subs)
    return Analysis(
        n=len(scores),
        grades=grade_items(scores, grade_ids, ranked_by),
        answers=answer_items(subs, template, verdicts, judged),
    )


CSV_FIELDS = [
    "kind",
    "item",
    "checked_by",
    "n",
    "max_points",
    "mean",
    "full_marks_share",
    "difficulty_p",
    "point_biserial_rest",
    "upper_lower_27",
    "discrimination_note",
    "flags",
    "common_wrong_answers",
    "option_counts",
]


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def csv_rows(analysis: Analysis) -> list[dict]:
    rows = []
    for g in analysis.grades:
        rows.append(
            {
                "kind": "grade id",
                "item": g.grade_id,
                "checked_by": "",
                "n": g.n,
                "max_points": f"{g.max_score:g}",
                "mean": _num(g.mean, "{:.3f}"),
                "full_marks_share": _num(g.full_share, "{:.3f}"),
                "difficulty_p": _num(g.difficulty, "{:.3f}"),
                "point_biserial_rest": _num(g.r_rest, "{:.3f}"),
                "upper_lower_27": _num(g.d_27, "{:.3f}"),
                "discrimination_note": g.note or "",
                "flags": "; ".join(g.flags),
                "common_wrong_answers": "",
                "option_counts": "",
            }
        )
    for a in analysis.answers:
        rows.append(
            {
                **dict.fromkeys(CSV_FIELDS, ""),
                "kind": "answer",
                "item": a.name,
                "checked_by": " ".join(a.grade_ids),
                "n": a.answered,
                "common_wrong_answers": "; ".join(f"{v} x{c}" for v, c in a.wrong)
                if a.wrong_known
                else "n/a",
                "option_counts": "; ".join(f"{o}: {c}" for o, c in a.options or []),
            }
        )
    return rows


def write_csv(analysis: Analysis, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(analysis))
    return path


def _with_note(value: str, note: str | None) -> str:
    """A figure with the head of its note: "0.00 (tied: D not meaningful)"."""
    return value if note is None else f"{value} ({note.split(' (')[0]})"


def _answer_row(a: AnswerItem, checked_by: list[str]) -> dict:
    return {
        "name": a.name,
        "also": ", ".join(f"`{g}`" for g in checked_by),  # other grade ids that check it
        "answered": a.answered,
        "wrong": (
            ", ".join(f"`{v}` ({c})" for v, c in a.wrong) or "none"
            if a.wrong_known
            else "n/a (no verdicts)"
        ),
        "options": ", ".join(f"{o} {c}" for o, c in a.options) if a.options else "",
    }


def summary_data(analysis: Analysis) -> dict:
    """Plain values for the TA summary's one items table (numbers formatted, n/a spelled
    out): a row per grade id, its answers under the first grade id that checks them (an
    answer nobody gave is left to the CSV), answers of no listed grade id in "other"."""
    listed = [g.grade_id for g in analysis.grades]
    under: dict[str, list[dict]] = {gid: [] for gid in listed}
    other = []
    for a in analysis.answers:
        if not a.answered:
            continue
        ids = [g for g in a.grade_ids if g in under]
        if ids:
            under[ids[0]].append(_answer_row(a, ids[1:]))
        else:
            other.append(_answer_row(a, a.grade_ids))
    return {
        "n": analysis.n,
        "grades": [
            {
                "grade_id": g.grade_id,
                "n": g.n,
                "points": f"{g.max_score:g}",
                "full": "n/a" if not g.n else f"{g.full}/{g.n} ({g.full_share:.0%})",
                "mean": _num(g.mean, "{:.3g}"),
                "p": _num(g.difficulty),
                "r": _num(g.r_rest) + (" (not meaningful)" if g.note else ""),
                "d": _with_note(_num(g.d_27), g.note),
                "note": g.note or "",
                "flags": "; ".join(g.flags),
                "answers": under[g.grade_id],
            }
            for g in analysis.grades
        ],
        "other_answers": other,
    }
