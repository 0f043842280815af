"""The five channels pair by pair, the pairs' scores, and the clusters they form."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from course.layout import Layout
from course.similarity.reading import (
    Submission,
    Template,
    load_template,
    read_class,
    solution_fingerprints,
)
from course.similarity.rules import (
    ANSWER_MAX_HOLDERS,
    CODE_POINTS_MAX,
    CODE_POINTS_PER,
    COMMON_ANSWER,
    ID_POINTS,
    MAX_GAP,
    MIN_RUN,
    OUTPUT_POINTS,
    OUTPUT_POINTS_MAX,
    RARE_SHARE,
    REPORT_MIN,
    SHINGLE_WORDS,
    UNKNOWN_ANSWER,
    WRITTEN_MIN_SHARED,
    WRITTEN_POINTS,
)
from graders import ASSIGNMENT

# ------------------------------------------------------------------ comparing


@dataclass
class SharedAnswer:
    name: str
    shown: str
    written_by: int  # students in the class with this answer
    wrong: bool | None  # True: wrong for at least one of the two; None: unknown
    points: float
    both_wrong: bool = False
    right_for: str = ""  # the student the value is right for: one of the pair (the likely
    # source) when it is wrong for the other, else another holder when it is wrong for both
    wrong_for: tuple[str, ...] = ()  # the students of the pair it is wrong for
    not_graded: str = ""  # the student of the pair without a grade for it
    model: bool = False  # judged on each student's own model (Part 4)

    @property
    def source(self) -> str:
        """The pair's student the value is right for while wrong for the other, or ""."""
        return self.right_for if self.wrong and not self.both_wrong else ""

    @property
    def judged(self) -> str:
        if self.wrong is None:
            return "unknown"
        if self.both_wrong:
            if self.right_for:  # another holder's: the likely source of both
                return _right_wrong(self.right_for, self.wrong_for, self.model, also=True)
            return "wrong for both"
        if self.source:
            return _right_wrong(self.source, self.wrong_for, self.model)
        return f"wrong for {self.wrong_for[0]}, not graded for {self.not_graded}"

    @property
    def label(self) -> str:
        """The heading it is listed under in a pair's reasons."""
        if self.wrong is None:
            return "same rare answers"
        if self.both_wrong and not self.right_for:
            return "same wrong answers"
        return f"same answers, {self.judged}"

    @property
    def detail(self) -> str:
        """`name = value (how many others wrote it)`."""
        return f"{self.name} = {self.shown} ({_others(self.written_by - 2)})"


def _model_of(student: str, model: bool) -> str:
    return f"{student}'s model" if model else student


def _right_wrong(source: str, wrong_for: Iterable[str], model: bool, also: bool = False) -> str:
    """Whose answers they are: right for the likely source (`also`: a third student, who
    wrote the same), wrong for the copier(s)."""
    wrote = " (who wrote the same)" if also else ""
    if model:
        whose = _join([c + "'s" for c in wrong_for])
        return f"right for {source}'s model{wrote}, wrong for {whose}"
    return f"right for {source}{wrote}, wrong for {_join(list(wrong_for))}"


@dataclass
class Pair:
    a: str
    b: str
    code_count: int = 0  # rare fingerprints shared
    code_weight: float = 0.0
    code_cells: Counter = field(default_factory=Counter)
    answers: list[SharedAnswer] = field(default_factory=list)
    written_shared: int = 0
    written_jaccard: float = 0.0
    same_id: str = ""
    id_copied: list[tuple[str, str]] = field(default_factory=list)  # (id's owner, declarer)
    outputs: list[str] = field(default_factory=list)

    @property
    def code_points(self) -> float:
        return min(CODE_POINTS_MAX, CODE_POINTS_PER * self.code_weight)

    @property
    def answer_points(self) -> float:
        return sum(a.points for a in self.answers)

    @property
    def written_points(self) -> float:
        if self.written_shared < WRITTEN_MIN_SHARED:
            return 0.0
        return WRITTEN_POINTS * self.written_jaccard

    @property
    def id_points(self) -> float:
        return ID_POINTS if self.same_id else 0.0

    @property
    def output_points(self) -> float:
        return min(OUTPUT_POINTS_MAX, OUTPUT_POINTS * len(self.outputs))

    @property
    def score(self) -> float:
        return (
            self.code_points
            + self.answer_points
            + self.written_points
            + self.id_points
            + self.output_points
        )

    @property
    def direction(self) -> tuple[str, str] | None:
        """(likely source, copier) when the evidence says who is whose: answers right for one
        student's own model and wrong for the other's, or one's STUDENT_ID in the other's
        notebook; None when it does not say or says both ways. Code, text and outputs never
        say who wrote first."""
        found = {(a.source, a.wrong_for[0]) for a in self.answers if a.source}
        found.update(self.id_copied)
        return next(iter(found)) if len(found) == 1 else None

    @property
    def likely_source(self) -> str:
        return self.direction[0] if self.direction else ""

    def reasons(self, answer_values: bool = True) -> list[str]:
        """Why the pair is listed, one line per kind of evidence. `answer_values=False`: the
        shared answers by name only (the HTML page lists their values once, in a table)."""
        out = []
        if self.same_id:
            out.append(self.same_id)
        if self.code_points >= 0.05:
            cells = ", ".join(g for g, _ in self.code_cells.most_common(3))
            out.append(f"{self.code_count} rare code fingerprints shared (in {cells})")
        order = {"same wrong answers": 0, "same rare answers": 2}
        groups: dict[str, list[SharedAnswer]] = {}
        for a in sorted(self.answers, key=lambda a: (order.get(a.label, 1), a.label, a.name)):
            groups.setdefault(a.label, []).append(a)
        for label, group in groups.items():
            if answer_values:
                out.append(f"{label}: " + "; ".join(a.detail for a in group))
            else:
                names = ", ".join(a.name for a in group)
                out.append(f"{label}: {names} (values in the table below)")
        if self.written_points >= 0.05:
            out.append(
                f"written answers share {self.written_shared} rare {SHINGLE_WORDS}-word phrases "
                f"(weighted Jaccard {self.written_jaccard:.2f})"
            )
        if self.outputs:
            out.append(
                f"{len(self.outputs)} identical saved output{'s' if len(self.outputs) > 1 else ''}"
                f" with timings ({', '.join(self.outputs[:3])})"
            )
        return out


@dataclass
class Cluster:
    """Students joined by listed pairs (a connected component): one copy ring, listed once."""

    number: int
    members: list[str]
    pairs: list[Pair]  # ranked, strongest first
    likely_source: str = ""
    basis: str = ""  # why that student

    @property
    def score(self) -> float:
        return max(p.score for p in self.pairs)


def clusters(pairs: list[Pair]) -> list[Cluster]:
    """The connected components of the listed `pairs` (ranked), strongest pair first; each
    with its likely source when the pairs' directions point to one student who is nobody's
    copier."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        parent[root(p.a)] = root(p.b)
    groups: dict[str, list[Pair]] = {}
    for p in pairs:  # a group's first pair is its strongest: groups come strongest first
        groups.setdefault(root(p.a), []).append(p)
    out = []
    for number, group in enumerate(groups.values(), 1):
        members = sorted({s for p in group for s in (p.a, p.b)})
        source, basis = _likely_source(group)
        out.append(Cluster(number, members, group, source, basis))
    return out


def _likely_source(pairs: list[Pair]) -> tuple[str, str]:
    directions = [p.direction for p in pairs if p.direction]
    roots = {s for s, _ in directions} - {c for _, c in directions}
    if len(roots) != 1:
        return "", ""
    source = roots.pop()
    by_answers = [a for p in pairs for a in p.answers if a.source == source]
    basis = []
    if by_answers:
        copiers = sorted({a.wrong_for[0] for a in by_answers})
        model = any(a.model for a in by_answers)
        whose = _join([f"{c}'s" for c in copiers]) if model else _join(copiers)
        basis.append(
            f"the shared answers are right for {_model_of(source, model)}, wrong for {whose}"
        )
    by_id = sorted({c for p in pairs for s, c in p.id_copied if s == source})
    if by_id:
        notebooks = "notebook" if len(by_id) == 1 else "notebooks"
        whose = _join([c + "'s" for c in by_id])
        basis.append(f"{source}'s STUDENT_ID is in {whose} {notebooks}")
    return source, "; ".join(basis)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _others(k: int) -> str:
    if k <= 0:
        return "nobody else wrote it"
    return f"{k} other student{'s' if k > 1 else ''} wrote it"


@dataclass
class Result:
    assignment: str
    students: list[str]
    pairs: list[Pair]  # ranked, score >= REPORT_MIN
    skipped: list[tuple[str, str]]
    notes: list[str]  # per-student remarks (a declared id not their own, unparsable cells)
    rare_cut: int
    graded: bool  # correctness of answers known from grades
    submissions: dict[str, Submission] = field(repr=False, default_factory=dict)
    rare_code: set = field(repr=False, default_factory=set)
    rare_shingles: set = field(repr=False, default_factory=set)
    clusters: list[Cluster] = field(default_factory=list)  # the pairs, joined into groups


def rare_cut(n: int) -> int:
    """The most students a fingerprint may be shared by and still count."""
    return max(2, math.floor(RARE_SHARE * n))


def _owners(items: Iterable[tuple[str, Iterable]]) -> dict:
    index = defaultdict(list)
    for student, keys in items:
        for key in keys:
            index[key].append(student)
    return index


def in_long_runs(
    sub: Submission, hashes: Iterable[int], min_run: int = MIN_RUN, max_gap: int = MAX_GAP
) -> set[int]:
    """The fingerprints among `hashes` that lie in a run of at least `min_run` of them in
    `sub`'s code, with gaps of at most `max_gap` other fingerprints (a standard fragment
    inside a copied block): a block shared, not a line that many write alike."""
    at = defaultdict(set)
    hashes = set(hashes)
    for h in hashes:
        for gid, i in sub.fingerprints.get(h, ()):
            at[gid].add(i)
    long = set()
    for gid, starts in at.items():
        run: list[int] = []
        for i in [*sorted(starts), None]:
            if i is not None and run and i - run[-1] <= max_gap + 1:
                run.append(i)
                continue
            if len(run) >= min_run:
                long.update((gid, j) for j in run)
            run = [i]
    return {h for h in hashes if any(spot in long for spot in sub.fingerprints.get(h, ()))}


def correctness(
    subs: list[Submission], template: Template, grades: Mapping | None
) -> dict[tuple[str, str], bool | None]:
    """(student, name) -> True (full marks on every grade id that checks the answer), False
    (not) or None (unknown: no grades, or an id without a score). Per student, never from
    another's: with per-student variants one value is right for one student, wrong for another."""
    if grades is None:
        return {}
    out = {}
    for sub in subs:
        g = grades.get(sub.student)
        for name in sub.answers:
            ids = template.answer_items.get(name, [])
            scores = [g.get(gid) for gid in ids] if g else []
            if not ids or not scores or any(s is None or s[0] is None for s in scores):
                out[sub.student, name] = None
            else:
                out[sub.student, name] = all(s[0] >= s[1] - 1e-9 for s in scores)
    return out


def compare(
    subs: list[Submission],
    template: Template,
    grades: Mapping[str, Mapping[str, tuple[float | None, float]]] | None = None,
    solution: set[int] = frozenset(),
    skipped: Iterable[tuple[str, str]] = (),
    assignment: str = ASSIGNMENT,
    minimum: float = REPORT_MIN,
) -> Result:
    """Every pair's evidence; the pairs at or above `minimum`, ranked."""
    n = len(subs)
    cut = rare_cut(n)
    by_name = {s.student: s for s in subs}
    pairs: dict[tuple[str, str], Pair] = {}

    def pair(a: str, b: str) -> Pair:
        a, b = sorted((a, b))
        if (a, b) not in pairs:
            pairs[a, b] = Pair(a, b)
        return pairs[a, b]

    # code: the rare fingerprints, grouped by who has them; each pair then keeps those that lie
    # in long runs in both notebooks (a copied block, not one line written alike)
    index = _owners((s.student, s.fingerprints) for s in subs)
    df = {h: len(owners) for h, owners in index.items()}
    rare_code = {h for h, d in df.items() if 2 <= d <= cut and h not in solution}
    groups = defaultdict(list)
    for h in rare_code:
        groups[tuple(sorted(index[h]))].append(h)
    candidates = defaultdict(list)
    for owners, hashes in groups.items():
        for a, b in combinations(owners, 2):
            candidates[a, b].extend(hashes)
    for (a, b), hashes in candidates.items():
        kept = in_long_runs(by_name[a], hashes) & in_long_runs(by_name[b], hashes)
        if kept:
            p = pair(a, b)
            p.code_count = len(kept)
            p.code_weight = sum(2 / df[h] for h in kept)
            p.code_cells = Counter(by_name[a].fingerprints[h][0][0] for h in kept)

    # answers: identical values, weighted by rarity, counted when wrong (or unknown)
    right = correctness(subs, template, grades)
    for name in sorted({name for s in subs for name in s.answers}):
        by_value = defaultdict(list)
        for sub in subs:
            if name in sub.answers:
                by_value[sub.answers[name].key].append(sub.student)
        answered = sum(map(len, by_value.values()))
        per_student = name in template.model_names
        for owners in by_value.values():
            k = len(owners)
            if k < 2 or k > min(ANSWER_MAX_HOLDERS, COMMON_ANSWER * answered):
                continue  # written by many: a common value or mistake, not a copy
            ok = {s: right.get((s, name)) for s in owners}
            if not per_student and True in ok.values():
                continue  # the same right answer for everyone: what independent work gives
            right_holders = [s for s in owners if ok[s] is True]
            for a, b in combinations(sorted(owners), 2):
                if ok[a] is True and ok[b] is True:
                    continue  # both right: what independent work gives
                wrong_for = tuple(s for s in (a, b) if ok[s] is False)
                both_wrong = len(wrong_for) == 2
                if both_wrong:  # right for another holder (the pair's likely source)?
                    others = [s for s in right_holders if s not in (a, b)]
                    right_for = others[0] if len(others) == 1 else ""
                elif wrong_for:
                    right_for = next((s for s in (a, b) if ok[s] is True), "")
                else:
                    right_for = ""
                not_graded = next((s for s in (a, b) if ok[s] is None), "") if wrong_for else ""
                factor = 1.0 if wrong_for else UNKNOWN_ANSWER
                pair(a, b).answers.append(
                    SharedAnswer(
                        name,
                        by_name[a].answers[name].shown,
                        k,
                        True if wrong_for else None,
                        factor * 2 / k,
                        both_wrong,
                        right_for=right_for,
                        wrong_for=wrong_for,
                        not_graded=not_graded,
                        model=per_student,
                    )
                )

    # written answer: weighted Jaccard of the shingles, the release's text removed
    index = _owners((s.student, s.written_shingles) for s in subs)
    rare_shingles = set()
    shared_w = defaultdict(float)
    shared_n = Counter()
    for sh, owners in index.items():
        if 2 <= len(owners) <= cut:
            rare_shingles.add(sh)
            for a, b in combinations(sorted(owners), 2):
                shared_w[a, b] += 2 / len(owners)
                shared_n[a, b] += 1
    sizes = {s.student: len(s.written_shingles) for s in subs}
    for (a, b), weight in shared_w.items():
        p = pair(a, b)
        union = sizes[a] + sizes[b] - shared_n[a, b]
        p.written_shared = shared_n[a, b]
        p.written_jaccard = weight / union if union else 0.0

    # declared student ids: the same id twice, or one student's own id in another's notebook
    names = {s.student.casefold(): s.student for s in subs}
    declared = defaultdict(list)
    notes = []
    for sub in subs:
        if sub.student_id:
            declared[sub.student_id].append(sub.student)
            if sub.student_id != sub.student.casefold():
                owner = names.get(sub.student_id)
                notes.append(
                    f"{sub.student}: the notebook declares STUDENT_ID {sub.student_id!r}"
                    + (f", the id of {owner}" if owner else ", not the student's own")
                )
                if owner and owner != sub.student:
                    reason = f"{sub.student}'s notebook declares {owner}'s STUDENT_ID"
                    p = pair(sub.student, owner)
                    p.same_id = reason
                    p.id_copied.append((owner, sub.student))
        if sub.unparsed:
            notes.append(
                f"{sub.student}: solution cell(s) {', '.join(sub.unparsed)} do not parse "
                "(their answers are not compared)"
            )
    for value, owners in declared.items():
        for a, b in combinations(sorted(owners), 2):
            p = pair(a, b)
            p.same_id = p.same_id or f"both notebooks declare STUDENT_ID {value!r}"

    # saved outputs that carry a timing: no two runs print the same
    index = _owners((s.student, s.outputs) for s in subs)
    for text, owners in index.items():
        if 2 <= len(owners) <= cut:
            for a, b in combinations(sorted(owners), 2):
                pair(a, b).outputs.append(by_name[a].outputs[text])

    ranked = sorted(
        (p for p in pairs.values() if p.score >= minimum - 1e-12),
        key=lambda p: (-p.score, p.a, p.b),
    )
    return Result(
        assignment=assignment,
        students=sorted(s.student for s in subs),
        pairs=ranked,
        skipped=sorted(skipped),
        notes=sorted(notes),
        rare_cut=cut,
        graded=grades is not None,
        submissions={s.student: s for s in subs},
        rare_code=rare_code,
        rare_shingles=rare_shingles,
        clusters=clusters(ranked),
    )


def analyse(
    course: Path,
    assignment: str = ASSIGNMENT,
    grades: Mapping | None = None,
    minimum: float = REPORT_MIN,
) -> Result:
    """Read every submission of `assignment` in `course` and compare them. `grades`:
    student -> grade id -> (score, max score), from the gradebook (None: unknown)."""
    layout = Layout(Path(course), assignment)
    template = load_template(layout)
    subs, skipped = read_class(course, assignment, template)
    return compare(
        subs,
        template,
        grades,
        solution=solution_fingerprints(layout, template),
        skipped=skipped,
        assignment=assignment,
        minimum=minimum,
    )
