"""What each submission holds, read from the notebooks: the release as a template, each
student's code fingerprints, answers, written text, declared id and timed outputs."""

from __future__ import annotations

import ast
import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course.layout import Layout
from course.similarity.answers import Answer, answer_of, answer_of_value, assignments
from course.similarity.lexing import Token, tokens
from course.similarity.rules import K_TOKENS, SHINGLE_WORDS, TIMING, WRITTEN_ANSWER_ID, WRITTEN_TASK
from graders import ASSIGNMENT
from graders.registry import STUDENT_ID  # the notebook's declared id: one name, kept there


def declared_student_id(cells) -> str | None:
    declared = None
    for cell in cells:
        if cell.cell_type != "code" or STUDENT_ID not in cell.source:
            continue
        try:
            node = assignments(cell.source).get(STUDENT_ID)
            if node is not None:
                answer = answer_of(node)
                if answer is not None and answer.constant:
                    declared = str(json.loads(answer.key))
        except (SyntaxError, ValueError):
            found = re.search(rf"^{STUDENT_ID}\s*=\s*(['\"])(.*?)\1", cell.source, re.MULTILINE)
            if found:
                declared = found.group(2).strip().casefold()
    return declared or None


def word_matches(text: str) -> list[re.Match]:
    return list(re.finditer(r"[0-9a-z]+(?:[.,'][0-9a-z]+)*", text.lower()))


def shingles(text: str, n: int = SHINGLE_WORDS) -> dict[tuple[str, ...], list[int]]:
    """n-word shingle -> the indices of its first word (words: lower case, no punctuation)."""
    words = [m.group() for m in word_matches(text)]
    out = defaultdict(list)
    for i in range(len(words) - n + 1):
        out[tuple(words[i : i + n])].append(i)
    return out


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _solution_cells(nb) -> dict[str, str]:
    return {
        _grade_id(c): c.source
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution") and _grade_id(c)
    }


def _written_answer(nb) -> str:
    for cell in nb.cells:
        if cell.get("id") == WRITTEN_ANSWER_ID:
            return cell.source
    for i, cell in enumerate(nb.cells):  # a notebook whose cell ids were lost: after its task
        if _grade_id(cell) == WRITTEN_TASK and i + 1 < len(nb.cells):
            return nb.cells[i + 1].source
    return ""


def _timed_outputs(nb) -> dict[str, str]:
    """hash key -> where: saved outputs that carry a timing (a run's own log)."""
    out = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        texts = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                texts.append("".join(o.get("text", "")))
            elif o.get("output_type") in ("execute_result", "display_data"):
                texts.append("".join(o.get("data", {}).get("text/plain", "")))
        text = re.sub(r"\s+", " ", "".join(texts)).strip()
        if len(text) >= 40 and TIMING.search(text):
            out[text] = _grade_id(cell) or f"cell {i + 1}"
    return out


@dataclass
class Template:
    """What the students were given: the release's text of every solution cell, its answer
    names (and the grade ids that check each), its multiple-choice options and the text of
    the release (not evidence when a student repeats it)."""

    solution_cells: dict[str, str] = field(default_factory=dict)
    answer_items: dict[str, list[str]] = field(default_factory=dict)  # name -> grade ids
    choices: dict[str, list[str]] = field(default_factory=dict)  # name -> options
    # answered with each student's own letters (check_letter): choices holds the options
    lettered: set = field(default_factory=set)
    boilerplate_shingles: set = field(default_factory=set)
    student_id: str | None = None
    grade_ids: list[str] = field(default_factory=list)
    # names whose right value depends on the student (Part 4: judged on the student's own
    # model): one value may be right for one student and wrong for another
    model_names: set = field(default_factory=set)

    @classmethod
    def from_notebook(cls, nb) -> Template:
        t = cls()
        t.solution_cells = _solution_cells(nb)
        t.student_id = declared_student_id(nb.cells)
        current: list[str] = []  # the answer names of the last solution cell
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown" or cell.get("id") == WRITTEN_ANSWER_ID:
                t.boilerplate_shingles.update(shingles(cell.source))
            if cell.cell_type != "code":
                continue
            if meta.get("solution") and _grade_id(cell):
                try:
                    current = [n for n in assignments(cell.source) if n != STUDENT_ID]
                except (SyntaxError, ValueError):
                    current = []
                for name in current:
                    t.answer_items.setdefault(name, [])
            elif meta.get("grade") and _grade_id(cell):
                gid = _grade_id(cell)
                t.grade_ids.append(gid)
                named = [n for n in current if re.search(rf"\b{re.escape(n)}\b", cell.source)]
                graded = _graded_names(gid)  # what the grader reads, where it is known
                for name in graded if graded is not None else named or current:
                    t.answer_items.setdefault(name, []).append(gid)
                for name, options in _choices(cell.source).items():
                    t.choices[name] = options
                for name in _lettered(cell.source):
                    t.choices[name] = [option_label(o) for o in _options(name)]
                    t.lettered.add(name)
        variant = _variant_grade_ids()
        t.model_names = {
            name
            for name, ids in t.answer_items.items()
            # a choice is the same for all, unless each student has letters of their own
            if set(ids) & variant and (name not in t.choices or name in t.lettered)
        }
        return t


def _variant_grade_ids() -> set[str]:
    """The grade ids judged on the grading student's own model (graders.registry)."""
    from graders import registry

    return set(registry.VARIANT_GRADE_IDS)


def _graded_names(grade_id: str) -> list[str] | None:
    """The answers a grade id judges (graders.registry, without the optional names it also
    reads), or None for a grade id this course's graders do not know."""
    from graders import registry

    check = registry.CHECKS.get(grade_id)
    return None if check is None else list(check.answers)


def _options(name: str) -> tuple[str, ...]:
    from graders import public_checks

    return getattr(public_checks(), "CHOICES", {}).get(name, ())


def option_label(option: str) -> str:
    """An option as the TA's tables name it: its first five words."""
    words = option.split()
    return " ".join(words[:5]) + (" ..." if len(words) > 5 else "")


def as_option(student_id: str, name: str, answer: Answer) -> Answer:
    """A lettered answer as the option it names for `student_id` (c1w3_checks.choices_for):
    letters mean different options for different students, options mean the same."""
    from graders import public_checks

    if not answer.is_text:
        return answer
    letter = str(json.loads(answer.key)).strip().casefold()
    try:
        option = public_checks().choices_for(student_id, name).get(letter)
    except Exception:  # an id the checks refuse: the letter is shown as written
        option = None
    label = option_label(option) if option else f"{letter!r}, not one of their letters"
    return Answer(json.dumps(label), label, True, True)


def _lettered(source: str) -> list[str]:
    """The names of every ``check_letter(name, STUDENT_ID, ...)`` in a check cell."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return [
        node.args[0].id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "check_letter"
        and node.args
        and isinstance(node.args[0], ast.Name)
        and _options(node.args[0].id)
    ]


def _choices(source: str) -> dict[str, list[str]]:
    """name -> options of every ``check_choice(name, ("a", "b"), ...)`` in a check cell."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    out = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "check_choice"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
        ):
            try:
                options = ast.literal_eval(node.args[1])
            except (ValueError, SyntaxError, TypeError):
                continue
            if isinstance(options, tuple | list) and all(isinstance(o, str) for o in options):
                out[node.args[0].id] = [o.strip().casefold() for o in options]
    return out


@dataclass
class Submission:
    student: str
    sources: dict[str, str]  # grade id -> the student's solution cell
    tokens: dict[str, list[Token]]  # grade id -> its tokens, the template's lines left out
    fingerprints: dict[int, list[tuple[str, int]]]  # hash -> (grade id, index of 1st token)
    answers: dict[str, Answer]
    written: str
    written_shingles: dict[tuple[str, ...], list[int]]
    student_id: str | None
    outputs: dict[str, str]
    unparsed: list[str] = field(default_factory=list)  # solution cells that do not parse


def code_fingerprints(
    sources: Mapping[str, str], template: Template, k: int = K_TOKENS
) -> tuple[dict[str, list[Token]], dict[int, list[tuple[str, int]]]]:
    """(grade id -> tokens, hash of every k tokens -> where they start). Every k-gram is kept
    (winnowing with a window of 1): at a notebook's size the positions are what the side by
    side view and the run lengths need, and they cost little (benchmarks/similarity_cost.py)."""
    cells, out = {}, defaultdict(list)
    for gid, source in sources.items():
        toks, hashes = cell_fingerprints(gid, source, template.solution_cells.get(gid, ""), k)
        cells[gid] = list(toks)
        for i, h in enumerate(hashes):
            out[h].append((gid, i))
    return cells, dict(out)


@functools.lru_cache(maxsize=8192)
def cell_fingerprints(gid: str, source: str, released: str, k: int):
    """One cell's tokens and k-gram hashes; cached, since many students hand in some cells
    exactly alike (most answer cells of a class are the same few texts)."""
    toks = tuple(tokens(source, released.splitlines()))
    norms = [t.norm for t in toks]
    return toks, tuple(hash((gid, *norms[i : i + k])) for i in range(len(toks) - k + 1))


def read_notebook(student: str, nb, template: Template) -> Submission:
    sources = _solution_cells(nb)
    answers, unparsed = {}, []
    for gid, source in sources.items():
        try:
            values = assignments(source)
        except (SyntaxError, ValueError, RecursionError):
            unparsed.append(gid)
            continue
        for name, node in values.items():
            if template.answer_items and name not in template.answer_items:
                continue
            if name == STUDENT_ID:
                continue
            answer = answer_of(node)
            if answer is not None:
                answers[name] = answer
    written = _written_answer(nb)
    written_shingles = {
        s: at for s, at in shingles(written).items() if s not in template.boilerplate_shingles
    }
    declared = declared_student_id(nb.cells)
    if declared is not None and declared == template.student_id:
        declared = None  # the release's placeholder
    cells, fingerprints = code_fingerprints(sources, template)
    return Submission(
        student=student,
        sources=sources,
        tokens=cells,
        fingerprints=fingerprints,
        answers=answers,
        written=written,
        written_shingles=written_shingles,
        student_id=declared,
        outputs=_timed_outputs(nb),
        unparsed=unparsed,
    )


def submitted_notebook(layout: Layout, student: str) -> Path | None:
    """The notebook a student handed in: the assignment's name, else a single .ipynb."""
    folder = layout.folder("submitted", student)
    expected = folder / f"{layout.assignment}.ipynb"
    if expected.exists():
        return expected
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    return found[0] if len(found) == 1 else None


def read_class(
    course: Path, assignment: str = ASSIGNMENT, template: Template | None = None
) -> tuple[list[Submission], list[tuple[str, str]]]:
    """Every readable submission, and (student, why) for those that are not. Never raises
    for a notebook: a broken one is listed, not compared."""
    layout = Layout(Path(course), assignment)
    template = template if template is not None else load_template(layout)
    subs, skipped = [], []
    for student in layout.students("submitted"):
        path = submitted_notebook(layout, student)
        if path is None:
            skipped.append((student, "no single notebook in the submission"))
            continue
        try:
            subs.append(read_notebook(student, read_fast(path), template))
        except Exception as error:  # noqa: BLE001 -- any unreadable file is listed, not fatal
            skipped.append((student, f"unreadable notebook ({type(error).__name__})"))
    return subs, skipped


def read_fast(path: Path):
    """A notebook without nbformat's schema validation (a third of the reading time): the
    report reads sources, metadata and outputs, and tolerates what validation would reject.
    A file that is not a v4 notebook's JSON goes through nbformat (its errors, its upgrade)."""
    text = path.read_text(encoding="utf-8")
    try:
        if json.loads(text).get("nbformat") == 4:
            return nbformat.v4.reads(text)
    except (ValueError, AttributeError):
        pass
    return nbformat.reads(text, as_version=4)


def load_template(layout: Layout) -> Template:
    path = layout.notebook("release")
    if not path.exists():
        return Template()
    return Template.from_notebook(nbformat.read(path, as_version=4))


def solution_fingerprints(layout: Layout, template: Template) -> set[int]:
    """The instructor's solution's fingerprints: standard code, never evidence."""
    path = layout.notebook("source")
    if not path.exists():
        return set()
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        return set()
    marker = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)
    sources = {gid: marker.sub("", s) for gid, s in _solution_cells(nb).items()}
    return set(code_fingerprints(sources, template)[1])


def reference_answers(source_nb, template: Template) -> dict[str, Answer]:
    """The instructor's constant answers (``"Coat"``, ``113_386``): name -> answer."""
    marker = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)
    sub = read_notebook(
        "(solution)",
        nbformat.from_dict(
            {
                **source_nb,
                "cells": [
                    {**c, "source": marker.sub("", c.source)} if c.cell_type == "code" else c
                    for c in source_nb.cells
                ],
            }
        ),
        template,
    )
    return {name: a for name, a in sub.answers.items() if a.constant}


def _right_letters(sub: Submission) -> dict[str, Answer]:
    """The right letter of each lettered question for the id `sub` declares (its own order
    of the options, c1w3_checks.choices_for), or its student name when it declares none."""
    from graders import public_checks, reference

    checks, out = public_checks(), {}
    for name in getattr(checks, "CHOICES", {}):
        try:
            out[name] = answer_of_value(reference.right_letter(sub.student_id or sub.student, name))
        except checks.CheckFailed:  # an id the checks refuse
            continue
    return out


def grades_by_reference(
    subs: Iterable[Submission], template: Template, reference: Mapping[str, Answer]
) -> dict[str, dict[str, tuple[float, float]]]:
    """Grades without a gradebook: a grade id is full (1 of 1) when every answer it checks
    whose reference is a constant equals the reference, else 0. Ids with no constant
    reference are left out (unknown)."""
    out = {}
    for sub in subs:
        grades = {}
        own = {**reference, **_right_letters(sub)}
        for gid in template.grade_ids:
            names = [n for n, ids in template.answer_items.items() if gid in ids and n in own]
            if names:
                right = all(
                    sub.answers.get(n) is not None and sub.answers[n].key == own[n].key
                    for n in names
                )
                grades[gid] = (1.0 if right else 0.0, 1.0)
        out[sub.student] = grades
    return out
