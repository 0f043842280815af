"""Which submissions share more than independent work would: evidence for a person to look at.

Read from what the grader already has -- the submitted notebooks (nothing is executed: code is
lexed, answers are read with ``ast``) and, when given, the gradebook's score per grade id --
and compared pair by pair through five channels:

code
    every solution cell (nbgrader ``solution: true``) minus the lines of the released template,
    as Python tokens with the student's own names and every literal normalised (a renamed,
    reformatted copy still matches), cut into k-token fingerprints. A fingerprint that the
    instructor's solution has, or that more than ``RARE_SHARE`` of the class has, counts for
    nothing: the lab's model is ten lines everybody writes alike. Of the rest, a pair counts
    those in runs of ``MIN_RUN`` or more (a copied block, not one line written alike), each
    ``2 / k`` when ``k`` students have it.
answers
    the values assigned to the template's answer names; two students with the same value
    count ``2 / k`` (``k`` students wrote it), nothing when more than ``ANSWER_MAX_HOLDERS``
    students (or more than ``COMMON_ANSWER`` of those who answered) wrote it or when it is
    right for both (full marks on the grade ids that check it), half when the grades do not
    say. A Part 4 answer is judged on each student's own model, so one value can be right for
    one student and wrong for another: the likely source and the copier of that pair.
written
    the free-text answer (cell ``explain_accuracy_gain_answer``) as 3-word shingles, minus
    the shingles of the release's own text, compared by weighted Jaccard.
student id
    two notebooks declaring the same ``STUDENT_ID`` (or one declaring the other's id).
outputs
    identical saved outputs that carry a timing (a training log): no two runs print those.

A pair's score is the sum of its channels' points; pairs above ``REPORT_MIN`` are ranked,
and joined into clusters (connected components: a copy ring is one group, listed once with its
members and its pairs). The report never changes a grade (docs/similarity.md).

    python -m course.similarity [--course DIR] [--assignment NAME]
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import keyword
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import jinja2
import nbformat

from course import templates
from course.layout import COURSE_ROOT, Layout
from graders import ASSIGNMENT
from graders.registry import STUDENT_ID  # the notebook's declared id: one name, kept there

K_TOKENS = 8  # tokens per code fingerprint: about half a line of the lab's model
MIN_RUN = 30  # rare shared fingerprints a block needs: more than one line of the model ...
MAX_GAP = 6  # ... with at most this many others between two of them (less than a line)
SHINGLE_WORDS = 3
RARE_SHARE = 0.2  # a fingerprint or shingle in more than this share of the class: no evidence
COMMON_ANSWER = 0.5  # an answer more than half of those who answered wrote: no evidence
# An answer held by more than this many students weighs nothing, whatever the class size.
# Three is a source and two copiers: a ring of three still shows through its answers. A
# fourth holder makes the value a shared mistake, not a copy between two of them: a number
# of the lab's own model typed into Part 4 (a reviewed class had 14 `receptive_field = 23`),
# a common misconception of a multiple-choice item. A share of the class (10 %) would let 30
# students of 300 "share" a value, which is what independent work produces; a bigger ring
# still shows through its code, written answer, outputs or id. Below the cut the weight is
# 2/k: the rarer, the heavier.
ANSWER_MAX_HOLDERS = 3
REPORT_MIN = 1.5  # a pair below this many points is not listed
TOP_PAIRS = 50  # pairs shown side by side in the HTML report

CODE_POINTS_PER = 0.1  # per (weighted) rare fingerprint ...
CODE_POINTS_MAX = 5.0  # ... up to this
WRITTEN_POINTS = 6.0  # times the weighted Jaccard of the written answers
WRITTEN_MIN_SHARED = 3  # fewer shared rare shingles than this is a coincidence
UNKNOWN_ANSWER = 0.5  # an identical answer whose correctness is unknown counts half
ID_POINTS = 6.0
OUTPUT_POINTS = 2.0  # per identical saved output with a timing
OUTPUT_POINTS_MAX = 6.0

WRITTEN_ANSWER_ID = "explain_accuracy_gain_answer"  # the cell id of the Part 7 answer
WRITTEN_TASK = "explain_accuracy_gain"  # its task cell (the answer follows it)
TIMING = re.compile(r"\d(?:ms|us|µs|s)(?:/step)?\b|\d\s+(?:ms|s|seconds?)\b")

# ------------------------------------------------------------------ reading notebooks

_TOKEN = re.compile(
    r"""
     (?P<ws>\s+|\\\n)
    |(?P<comment>\#[^\n]*)
    |(?P<string>(?:[rRbBuUfF]{1,2})?(?:'''[\s\S]*?(?:'''|\Z)|\"\"\"[\s\S]*?(?:\"\"\"|\Z)
                 |'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?))
    |(?P<number>(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)
                 [jJ]?)
    |(?P<name>[^\W\d]\w*)
    |(?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^@<>=!]=|[-+*/%&|^@~<>=.,:;()\[\]{}])
    |(?P<other>\S)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    norm: str  # what is compared: V for the student's own names, N and S for literals
    start: int  # character offsets in the cell's source
    end: int


def _bound_names(source: str) -> set[str] | None:
    """Names the cell itself binds (variables, functions, arguments, imports): the student's
    to choose. None if the cell does not parse."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def tokens(source: str, drop_lines: Iterable[str] = ()) -> list[Token]:
    """The cell as normalised tokens, without comments and without the lines whose stripped
    text is one of `drop_lines` (the released template's)."""
    drop = {line.strip() for line in drop_lines if line.strip()}
    bound = _bound_names(source)
    line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
    kept_lines = [
        source[start : (line_starts[i + 1] if i + 1 < len(line_starts) else len(source))].strip()
        not in drop
        for i, start in enumerate(line_starts)
    ]
    out, line, previous = [], 0, ""
    for m in _TOKEN.finditer(source):
        kind, text, start = m.lastgroup, m.group(), m.start()
        while line + 1 < len(line_starts) and line_starts[line + 1] <= start:
            line += 1
        if kind in ("ws", "comment") or not kept_lines[line]:
            continue
        if kind == "string":
            norm = "S"
        elif kind == "number":
            norm = "N"
        elif kind == "name":
            if keyword.iskeyword(text) or previous == ".":
                norm = text  # keywords and attributes (the API) stay
            elif bound is None or text in bound:
                norm = "V"
            else:
                norm = text  # free names: tf, np, range
        else:
            norm = text
        out.append(Token(norm, start, m.end()))
        previous = text
    return out


class NotConstant(Exception):
    pass


class Unanswered(Exception):
    pass


_CASTS = {"list", "tuple", "int", "float", "str", "np.array", "numpy.array", "np.asarray"}


def _constant(node):
    """The value of a constant expression: literals, lists, arithmetic on numbers and the
    casts a student wraps them in (``np.array([...])``). Raises NotConstant otherwise."""
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise Unanswered
        return node.value
    if isinstance(node, ast.Tuple | ast.List):
        return [_constant(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _constant(node.operand)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _constant(node.left), _constant(node.right)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if numbers:
            try:
                if isinstance(node.op, ast.Pow):
                    if abs(right) > 64 or abs(left) > 1e6:
                        raise NotConstant
                    return left**right
                op = {
                    ast.Add: float.__add__,
                    ast.Sub: float.__sub__,
                    ast.Mult: float.__mul__,
                    ast.Div: float.__truediv__,
                    ast.FloorDiv: float.__floordiv__,
                    ast.Mod: float.__mod__,
                }.get(type(node.op))
                if op is not None:
                    value = op(float(left), float(right))
                    both_int = isinstance(left, int) and isinstance(right, int)
                    if both_int and not isinstance(node.op, ast.Div):
                        return int(value) if abs(value) < 2**53 else value
                    return value
            except (ArithmeticError, ValueError, OverflowError):
                pass
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        if ast.unparse(node.func) in _CASTS:
            value = _constant(node.args[0])
            name = ast.unparse(node.func)
            try:
                if name in ("int", "float", "str"):
                    return {"int": int, "float": float, "str": str}[name](value)
            except (TypeError, ValueError) as error:
                raise NotConstant from error
            return value
    raise NotConstant


def _canonical(value):
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, float):
        return round(value, 10)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return repr(value)


def _show(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


@dataclass(frozen=True)
class Answer:
    key: str  # compared: the canonical value, or the normalised expression
    shown: str  # for a person
    constant: bool  # a value, not an expression of the notebook's names
    is_text: bool = False  # a string value: a choice among options


def answer_of(node: ast.AST) -> Answer | None:
    """The answer an assignment's value gives; None if it is the template's `...`."""
    try:
        value = _constant(node)
    except Unanswered:
        return None
    except (NotConstant, RecursionError):
        text = ast.unparse(node)
        if "..." in text or "Ellipsis" in text:
            return None
        return Answer("expr:" + text, text if len(text) <= 80 else text[:77] + "...", False)
    return answer_of_value(value)


def answer_of_value(value) -> Answer:
    """The answer a constant gives: written in the source (answer_of), or a value the
    grader judged (course.item_analysis.judged_answers)."""
    canonical = _canonical(value)
    shown = _show(canonical)
    return Answer(
        json.dumps(canonical, sort_keys=True),
        shown if len(shown) <= 80 else shown[:77] + "...",
        True,
        isinstance(canonical, str),
    )


@functools.lru_cache(maxsize=8192)
def _parse(source: str) -> ast.Module:
    return ast.parse(source)


def assignments(source: str) -> dict[str, ast.AST]:
    """name -> value node of the cell's top-level assignments (the last one wins)."""
    tree = _parse(source)
    out = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                out[target.id] = value
            elif isinstance(target, ast.Tuple | ast.List):
                if isinstance(value, ast.Tuple | ast.List) and len(target.elts) == len(value.elts):
                    for t, v in zip(target.elts, value.elts, strict=True):
                        if isinstance(t, ast.Name):
                            out[t.id] = v
    return out


def _student_id(cells) -> str | None:
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


def _words(text: str) -> list[re.Match]:
    return list(re.finditer(r"[0-9a-z]+(?:[.,'][0-9a-z]+)*", text.lower()))


def shingles(text: str, n: int = SHINGLE_WORDS) -> dict[tuple[str, ...], list[int]]:
    """n-word shingle -> the indices of its first word (words: lower case, no punctuation)."""
    words = [m.group() for m in _words(text)]
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
        t.student_id = _student_id(nb.cells)
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
        toks, hashes = _cell_fingerprints(gid, source, template.solution_cells.get(gid, ""), k)
        cells[gid] = list(toks)
        for i, h in enumerate(hashes):
            out[h].append((gid, i))
    return cells, dict(out)


@functools.lru_cache(maxsize=8192)
def _cell_fingerprints(gid: str, source: str, released: str, k: int):
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
    declared = _student_id(nb.cells)
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


# ------------------------------------------------------------------ the HTML report


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def segments(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, shared) at the merged `spans`."""
    out, at = [], 0
    for start, end in _merge(spans):
        if start > at:
            out.append((text[at:start], False))
        out.append((text[max(start, at) : end], True))
        at = max(at, end)
    if at < len(text):
        out.append((text[at:], False))
    return out


def _written_spans(sub: Submission, keep: set) -> list[tuple[int, int]]:
    words = _words(sub.written)
    spans = []
    for sh, starts in sub.written_shingles.items():
        if sh in keep:
            for i in starts:
                spans.append((words[i].start(), words[i + SHINGLE_WORDS - 1].end()))
    return spans


def pair_view(result: Result, p: Pair) -> dict:
    """What the page shows for one pair: code cells and written answers side by side."""
    a, b = result.submissions[p.a], result.submissions[p.b]
    shared = set(a.fingerprints) & set(b.fingerprints) & result.rare_code
    shared = in_long_runs(a, shared) & in_long_runs(b, shared)
    cells = []
    for gid in sorted({g for h in shared for g, _ in a.fingerprints[h]}):
        sides = []
        for sub in (a, b):
            toks = sub.tokens.get(gid, [])
            spans = [
                (toks[i].start, toks[i + K_TOKENS - 1].end)
                for h in shared
                for g, i in sub.fingerprints.get(h, ())
                if g == gid
            ]
            sides.append(segments(sub.sources.get(gid, ""), spans))
        cells.append({"grade_id": gid, "sides": sides})
    written = None
    if p.written_points >= 0.05:
        keep = set(a.written_shingles) & set(b.written_shingles) & result.rare_shingles
        written = [segments(s.written, _written_spans(s, keep)) for s in (a, b)]
    return {
        "a": p.a,
        "b": p.b,
        "score": p.score,
        "likely_source": p.likely_source,
        "reasons": p.reasons(answer_values=False),  # the values: once, in the answers table
        "points": [
            ("student id", p.id_points),
            ("code", p.code_points),
            ("answers", p.answer_points),
            ("written answer", p.written_points),
            ("saved outputs", p.output_points),
        ],
        "answers": p.answers,
        "cells": cells,
        "written": written,
    }


@functools.cache
def _html_template() -> jinja2.Template:
    return templates.load("similarity.html.j2", pts=lambda x: f"{x:.1f}")


def shown_clusters(result: Result, top: int) -> list[Cluster]:
    """The first clusters, whole, until they hold `top` pairs (a group is never cut)."""
    out, count = [], 0
    for cluster in result.clusters:
        if count >= top:
            break
        out.append(cluster)
        count += len(cluster.pairs)
    return out


def render_html(result: Result, top: int = TOP_PAIRS) -> str:
    groups, number = [], 0
    for cluster in shown_clusters(result, top):
        views = []
        for p in cluster.pairs:
            number += 1
            views.append({**pair_view(result, p), "number": number})
        groups.append(
            {
                "number": cluster.number,
                "members": cluster.members,
                "likely_source": cluster.likely_source,
                "basis": cluster.basis,
                "score": cluster.score,
                "pairs": views,
            }
        )
    return _html_template().render(
        assignment=result.assignment,
        n=len(result.students),
        cut=result.rare_cut,
        graded=result.graded,
        minimum=REPORT_MIN,
        listed=len(result.pairs),
        shown=number,
        clusters=groups,
        n_clusters=len(result.clusters),
        skipped=result.skipped,
        notes=result.notes,
        rare_share=RARE_SHARE,
        common_answer=COMMON_ANSWER,
        answer_max=ANSWER_MAX_HOLDERS,
        k=K_TOKENS,
        shingle_words=SHINGLE_WORDS,
    )


def report_path(course: Path, assignment: str = ASSIGNMENT) -> Path:
    return Layout(Path(course), assignment).reports / f"{assignment}_similarity.html"


def write_report(course: Path, result: Result) -> Path:
    path = report_path(course, result.assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result))
    return path


def summary_rows(result: Result, top: int = 20) -> list[dict]:
    """The ranked pairs for the TA summary's "Possible copying" section: rank, a, b, score,
    reasons (each pair's evidence, once), and the number of its cluster (summary_clusters)."""
    group = {(p.a, p.b): c.number for c in result.clusters for p in c.pairs}
    return [
        {
            "rank": i,
            "a": p.a,
            "b": p.b,
            "score": round(p.score, 1),
            "reasons": p.reasons(),
            "cluster": group.get((p.a, p.b), 0),
            "likely_source": p.likely_source,
        }
        for i, p in enumerate(result.pairs[:top], 1)
    ]


def summary_clusters(result: Result, top: int = 20) -> list[dict]:
    """The clusters for a Markdown page, strongest first, whole, until they hold `top` pairs:
    number, members, likely_source (or ""), basis, score and their pairs (as summary_rows, in
    the cluster's rank order)."""
    rows = {(r["a"], r["b"]): r for r in summary_rows(result, top=len(result.pairs))}
    return [
        {
            "number": c.number,
            "members": c.members,
            "likely_source": c.likely_source,
            "basis": c.basis,
            "score": round(c.score, 1),
            "pairs": [rows[p.a, p.b] for p in c.pairs],
        }
        for c in shown_clusters(result, top)
    ]


@functools.cache
def _markdown_template() -> jinja2.Template:
    return templates.load("similarity.md.j2")


def render_markdown(result: Result, top: int = 20) -> str:
    """The listed pairs as a Markdown list, one item per cluster (a pair alone is one line;
    a group lists its members, its likely source and its pairs), each pair's evidence once."""
    shown = summary_clusters(result, top)
    return _markdown_template().render(
        clusters=shown,
        more=len(result.pairs) - sum(len(c["pairs"]) for c in shown),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=COURSE_ROOT)
    parser.add_argument("--assignment", default=ASSIGNMENT)
    args = parser.parse_args(argv)
    result = analyse(args.course, args.assignment)
    path = write_report(args.course, result)
    print(render_markdown(result), end="")
    print(f"similarity report written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
