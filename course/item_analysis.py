"""Item analysis of one assignment: how hard each item was, whether it separates strong from
weak students, and which wrong answers the class gave. For the TA summary's "Items" section
and ``reports/<assignment>_items.csv``.

Per grade id, from the gradebook's scores: the mean, the share of full marks, the
point-biserial correlation of the item with the rest of the total (``r``), and the upper-lower
index (``D``: the mean share of the item's points in the top 27 % by the rest of the total
minus that in the bottom 27 %). Flags: "most strong students miss it" (fewer than half of the
top 27 % have full marks: the question, its checks or its expected value may be broken),
"strong students score lower than weak ones" (D < 0) and "nobody misses it".

Per answer name of the template (the value the verifier judged, from the hidden cell's saved
payload in the autograded ``_grading/`` folder, so an answer computed by code counts as its
value; else read with ``ast`` from the submitted notebook, never executed): how many
answered, the most common wrong answers with counts (a value is wrong when its student lacks
full marks on the grade ids that check it and no student who has them wrote it), and for a
multiple-choice answer how many chose each option.

A statistic a class is too small for is ``None`` ("n/a"): r needs 3 students whose scores
differ, D needs 4.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from course import similarity

UPPER_LOWER = 0.27
MIN_R = 3
MIN_D = 4
WRONG_SHOWN = 3  # most common wrong answers listed per answer
FEW_OPTIONS = 6  # a text answer with at most this many distinct values counts as a choice

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


@dataclass
class AnswerItem:
    name: str
    grade_ids: list[str]
    answered: int
    wrong: list[tuple[str, int]]  # (value shown, students), most common first
    options: list[tuple[str, int]] | None  # (option, students) for a multiple-choice answer
    wrong_known: bool  # False: no grades, so no value could be judged


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


def grade_items(scores: Scores, grade_ids: Iterable[str]) -> list[GradeItem]:
    grade_ids = list(grade_ids)
    out = []
    for gid in grade_ids:
        rows = []  # (student, score, max, rest of the total)
        for student, per_id in sorted(scores.items()):
            got = per_id.get(gid)
            if got is None or got[0] is None:
                continue
            rest = sum(s for g, (s, _) in per_id.items() if g != gid and s is not None)
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
        )
        if n >= MIN_D:
            order = sorted(range(n), key=lambda i: (rows[i][3], rows[i][0]))
            g = max(1, round(UPPER_LOWER * n))
            lower, upper = order[:g], order[-g:]
            item.d_27 = sum(share[i] for i in upper) / g - sum(share[i] for i in lower) / g
            if sum(full[i] for i in upper) / g < 0.5:
                item.flags.append("most strong students miss it (possible broken question)")
            elif item.d_27 < -1e-9:
                item.flags.append("strong students score lower than weak ones")
        if n >= 2 and item.full_share == 1.0:
            item.flags.append("nobody misses it")
        out.append(item)
    return out


MAX_PAYLOAD = 2**20  # a payload is the submission's file: larger ones are not read


def _plain(value):
    """A payload value as Python reads it: graders.artifacts writes tuples as __tuple__."""
    if isinstance(value, dict) and set(value) == {"__tuple__"}:
        return [_plain(v) for v in value["__tuple__"]]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def judged_answers(grading_dir: Path, template: similarity.Template) -> dict:
    """answer name -> Answer, the value each hidden check saved for the verifier to judge
    (graders.hidden.collect), for the template's answers; nothing from a missing, linked,
    oversized or malformed file."""
    from graders import hidden

    out = {}
    for grade_id in sorted({g for gids in template.answer_items.values() for g in gids}):
        names = hidden.CHECKS.get(grade_id, (None, None, ()))[2]
        path = Path(grading_dir) / f"{grade_id}.json"
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_PAYLOAD:
                continue
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        values = payload.get("answers") if isinstance(payload, dict) else None
        if not isinstance(values, list) or len(values) != len(names):
            continue
        for name, value in zip(names, values, strict=True):
            name = name.rstrip("?")
            if name in template.answer_items and value is not None:
                out.setdefault(name, similarity.answer_of_value(_plain(value)))
    return out


def answer_items(
    subs: list[similarity.Submission],
    template: similarity.Template,
    scores: Scores | None,
    judged: Mapping[str, Mapping[str, similarity.Answer]] | None = None,
) -> list[AnswerItem]:
    """`judged`: student -> answer name -> the value the verifier judged (judged_answers);
    it replaces what the notebook's source says, where there is one."""
    judged = judged or {}
    subs = [replace(sub, answers={**sub.answers, **judged.get(sub.student, {})}) for sub in subs]
    right = similarity.correctness(subs, template, scores) if scores is not None else {}
    right_values = defaultdict(set)  # values a student with full marks wrote
    for sub in subs:
        for name, answer in sub.answers.items():
            if right.get((sub.student, name)):
                right_values[name].add(answer.key)
    names = list(template.answer_items) or sorted({n for s in subs for n in s.answers})
    out = []
    for name in names:
        given = [(s.student, s.answers[name]) for s in subs if name in s.answers]
        wrong = Counter()
        shown = {}
        for student, answer in given:
            if right.get((student, name)) is False and answer.key not in right_values[name]:
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
                scores is not None,
            )
        )
    return out


def analyse(
    scores: Scores,
    grade_ids: Iterable[str],
    subs: list[similarity.Submission] = (),
    template: similarity.Template | None = None,
    judged: Mapping[str, Mapping[str, similarity.Answer]] | None = None,
) -> Analysis:
    """`scores`: student -> grade id -> (score, max score) of the graded submissions;
    `subs`: the submitted notebooks as course.similarity reads them; `judged`: the values
    the verifier judged (judged_answers), per student."""
    template = template or similarity.Template()
    subs = list(subs)
    return Analysis(
        n=len(scores),
        grades=grade_items(scores, grade_ids),
        answers=answer_items(subs, template, scores if scores else None, judged),
    )


CSV_FIELDS = [
    "kind",
    "item",
    "checked_by",
    "n",
    "max_points",
    "mean",
    "full_marks_share",
    "point_biserial_rest",
    "upper_lower_27",
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
                "point_biserial_rest": _num(g.r_rest, "{:.3f}"),
                "upper_lower_27": _num(g.d_27, "{:.3f}"),
                "flags": "; ".join(g.flags),
                "common_wrong_answers": "",
                "option_counts": "",
            }
        )
    for a in analysis.answers:
        rows.append(
            {
                "kind": "answer",
                "item": a.name,
                "checked_by": " ".join(a.grade_ids),
                "n": a.answered,
                "max_points": "",
                "mean": "",
                "full_marks_share": "",
                "point_biserial_rest": "",
                "upper_lower_27": "",
                "flags": "",
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


def summary_data(analysis: Analysis) -> dict:
    """Plain values for the TA summary's template (numbers formatted, n/a spelled out)."""
    return {
        "n": analysis.n,
        "grades": [
            {
                "grade_id": g.grade_id,
                "n": g.n,
                "mean": "n/a" if g.mean is None else f"{g.mean:.3g}/{g.max_score:g}",
                "full": _num(g.full_share, "{:.0%}"),
                "r": _num(g.r_rest),
                "d": _num(g.d_27),
                "flags": "; ".join(g.flags),
            }
            for g in analysis.grades
        ],
        "answers": [
            {
                "name": a.name,
                "checked_by": ", ".join(f"`{g}`" for g in a.grade_ids),
                "answered": a.answered,
                "wrong": (
                    ", ".join(f"`{v}` ({c})" for v, c in a.wrong) or "none"
                    if a.wrong_known
                    else "n/a (no grades)"
                ),
                "options": ", ".join(f"{o} {c}" for o, c in a.options) if a.options else "",
            }
            for a in analysis.answers
        ],
    }
