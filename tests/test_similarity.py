"""The similarity report (course/similarity.py) on the collusion class (scenarios/
collusion_class.py): every planted pair is found and ranks above every honest pair. No
training and no autograde: the submitted notebooks are read, never run; where the report
needs to know which answers are wrong, the grades come from the source solution's literal
answers (similarity.grades_by_reference), or there are none (rarity alone)."""

from __future__ import annotations

import copy
import csv
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course import similarity, summary
from course.layout import COURSE_ROOT, Layout
from graders import ASSIGNMENT
from scenarios import collusion_class
from tests.conftest import make_course

PLANTED = {tuple(sorted(pair)) for pair in collusion_class.PLANTED}
BUILD = collusion_class.BUILD_CELL


def collusion_course(root: Path, notebooks=None) -> Path:
    """A course folder with source/, release/ and the collusion class in submitted/."""
    root.mkdir(parents=True, exist_ok=True)
    course = make_course(root)
    shutil.copytree(COURSE_ROOT / "release", course / "release")
    collusion_class.write_notebooks(course, notebooks or collusion_class.class_notebooks())
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return collusion_course(tmp_path_factory.mktemp("collusion"))


@pytest.fixture(scope="module")
def read(course):
    layout = Layout(course)
    template = similarity.load_template(layout)
    subs, skipped = similarity.read_class(course, template=template)
    assert not skipped
    return layout, template, subs


def compare(read, grades, minimum=0.0):
    layout, template, subs = read
    solution = similarity.solution_fingerprints(layout, template)
    return similarity.compare(subs, template, grades, solution=solution, minimum=minimum)


def reference_grades(read):
    layout, template, subs = read
    source = nbformat.read(layout.notebook("source"), as_version=4)
    return similarity.grades_by_reference(
        subs, template, similarity.reference_answers(source, template)
    )


@pytest.mark.parametrize("graded", [True, False], ids=["grades-from-solution", "rarity-only"])
def test_every_planted_pair_ranks_above_every_honest_pair(read, graded):
    result = compare(read, reference_grades(read) if graded else None)
    scores = {(p.a, p.b): p.score for p in result.pairs}
    assert PLANTED <= set(scores), PLANTED - set(scores)
    lowest_planted = min(scores[p] for p in PLANTED)
    honest = {pair: s for pair, s in scores.items() if pair not in PLANTED}
    assert lowest_planted > max(honest.values(), default=0.0), sorted(
        honest.items(), key=lambda kv: -kv[1]
    )[:5]
    assert lowest_planted >= similarity.REPORT_MIN  # listed by the default threshold
    listed = compare(read, None, minimum=similarity.REPORT_MIN).pairs
    assert {(p.a, p.b) for p in listed} == PLANTED  # and no honest pair is


def test_each_planted_pair_is_found_by_what_it_shares(read):
    pairs = {(p.a, p.b): p for p in compare(read, reference_grades(read)).pairs}
    verbatim = pairs["vera", "vince"]
    assert verbatim.same_id == "vince's notebook declares vera's STUDENT_ID"
    assert verbatim.code_count and verbatim.written_jaccard > 0.95 and verbatim.outputs
    renamed = pairs["rick", "rosa"]
    assert renamed.code_points == similarity.CODE_POINTS_MAX
    assert BUILD in renamed.code_cells
    assert not renamed.same_id and renamed.written_points == 0 and not renamed.answers
    answers = pairs["walt", "wanda"]
    assert answers.code_count == 0 and answers.written_points == 0
    assert len([a for a in answers.answers if a.written_by == 2]) >= 3
    assert any(a.wrong for a in answers.answers)
    reason = " ".join(answers.reasons())
    assert "same wrong answers:" in reason and "(nobody else wrote it)" in reason
    paraphrase = pairs["paul", "pia"]
    assert paraphrase.code_count == 0 and not paraphrase.answers
    assert 0.2 < paraphrase.written_jaccard < 0.9


def test_the_renamed_copy_differs_in_text_but_not_in_tokens(read):
    _, template, subs = read
    by = {s.student: s for s in subs}
    rick, rosa = by["rick"], by["rosa"]
    assert rick.sources[BUILD] != rosa.sources[BUILD]
    assert "clf" in rick.sources[BUILD] and "clf" not in rosa.sources[BUILD]
    assert [t.norm for t in rick.tokens[BUILD]] == [t.norm for t in rosa.tokens[BUILD]]


def test_honest_students_share_the_standard_code_but_it_counts_for_nothing(read):
    """Most honest students write lines of the lab's model exactly as the solution does;
    those fingerprints are never evidence."""
    layout, template, subs = read
    solution = similarity.solution_fingerprints(layout, template)
    honest = [s for s in subs if s.student in collusion_class.HONEST]
    shared = set.intersection(*(set(s.fingerprints) & solution for s in honest[:4]))
    assert shared  # the same standard k-grams ...
    result = compare(read, None)
    assert not (shared & result.rare_code)  # ... are not rare


def test_code_most_of_a_class_writes_alike_is_no_evidence(tmp_path):
    """Six students hand in the same unusual code (and each their own id and written
    answer): more than a fifth of the class has it, so no pair is listed."""
    notebooks = collusion_class.class_notebooks()
    rosa = notebooks["rosa"]
    six = {}
    for i in range(6):
        nb = copy.deepcopy(rosa)
        collusion_class.set_student_id(nb, f"s{i}")
        for cell in nb.cells:
            if cell.get("id") == similarity.WRITTEN_ANSWER_ID:
                cell.source = list(collusion_class.WRITTEN.values())[i]
        six[f"s{i}"] = nb
    course = collusion_course(tmp_path, six)
    assert similarity.analyse(course).pairs == []


def test_a_class_of_one_or_two(tmp_path):
    notebooks = collusion_class.class_notebooks()
    course = collusion_course(tmp_path / "one", {"vera": notebooks["vera"]})
    assert similarity.analyse(course).pairs == []
    course = collusion_course(tmp_path / "two", {k: notebooks[k] for k in ("vera", "vince")})
    result = similarity.analyse(course)
    assert [(p.a, p.b) for p in result.pairs] == [("vera", "vince")]
    assert similarity.render_html(result)


def test_broken_notebooks_are_listed_not_fatal(tmp_path):
    notebooks = collusion_class.class_notebooks()
    course = collusion_course(tmp_path, {k: notebooks[k] for k in ("vera", "vince", "amara")})
    layout = Layout(course)
    last = [c for c in notebooks["chen"].cells if c.metadata.get("nbgrader", {}).get("solution")]
    last = last[-1].metadata["nbgrader"]["grade_id"]
    broken = layout.folder("submitted", "cut_off")
    broken.mkdir(parents=True)
    (broken / f"{ASSIGNMENT}.ipynb").write_text(nbformat.writes(notebooks["amara"])[:3000])
    layout.folder("submitted", "no_notebook").mkdir(parents=True)
    bad = copy.deepcopy(notebooks["chen"])
    collusion_class.set_student_id(bad, "syntax")
    for cell in bad.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == last:
            cell.source += "\nwhy_five = (\n"
    collusion_class.write_notebooks(course, {"syntax": bad})
    result = similarity.analyse(course)
    assert dict(result.skipped) == {
        "cut_off": "unreadable notebook (NotJSONError)",
        "no_notebook": "no single notebook in the submission",
    }
    assert f"syntax: solution cell(s) {last} do not parse" in " ".join(result.notes)
    assert [(p.a, p.b) for p in result.pairs] == [("vera", "vince")]
    page = similarity.render_html(result)
    assert "cut_off: unreadable notebook (NotJSONError)" in page


class _Outline(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.tags, self.marks = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        self.marks += tag == "mark"


def test_the_report_page_is_plain_accessible_html(course, read):
    result = compare(read, reference_grades(read), minimum=similarity.REPORT_MIN)
    path = similarity.write_report(course, result)
    assert path == course / "reports" / f"{ASSIGNMENT}_similarity.html"
    page = path.read_text()
    outline = _Outline()
    outline.feed(page)
    assert outline.headings[0] == 1 and outline.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(outline.headings, outline.headings[1:], strict=False))
    assert outline.tags.count("table") == outline.tags.count("caption")
    assert outline.tags.count("th") >= 2 * outline.tags.count("table")
    assert outline.marks > 0
    assert "never changes a grade" in page
    assert '<html lang="en">' in page
    # the cue is not colour alone: the marked text is also bold and underlined, and said so
    assert re.search(r"mark \{[^}]*font-weight: bold[^}]*text-decoration: underline", page)
    assert "highlighted, bold and underlined" in page
    for a, b in PLANTED:
        assert f"{a} and {b}" in page
    # the students' code is escaped, never markup
    assert "<mark>" in page and "def build_conv_model" in page
    assert "<script" not in page


def test_tokens_ignore_names_literals_layout_and_comments():
    a = "def f(x):\n    y = x * 2  # double\n    return tf.nn.relu(y, name='a')\n"
    b = 'def g(inp):\n    out = inp*3\n\n    return tf.nn.relu(out ,name = "zz")\n'
    c = "def f(x):\n    y = x * 2\n    return tf.nn.sigmoid(y, name='a')\n"  # the API differs
    norms = [[t.norm for t in similarity.tokens(s)] for s in (a, b, c)]
    assert norms[0] == norms[1] != norms[2]
    assert "V" in norms[0] and "relu" in norms[0] and "tf" in norms[0]
    kept = similarity.tokens(a, drop_lines=["def f(x):"])
    assert kept[0].norm == "V" and a[kept[0].start : kept[0].end] == "y"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("113_386", "113386"),
        ("113386.0", "113386"),
        ("[784, 21_632]", "np.array((784, 21632))"),
        ("784 * 21_632 + 21_632", "16_981_120"),
        ('"Coat "', "'coat'"),
    ],
)
def test_answers_compare_by_value(one, other):
    read = [similarity.answer_of(ast_value(s)) for s in (one, other)]
    assert read[0].key == read[1].key and read[0].constant


def ast_value(expression: str):
    return similarity.assignments(f"x = {expression}")["x"]


def test_answers_left_as_the_template_or_computed():
    assert similarity.answer_of(ast_value("...")) is None
    computed = similarity.answer_of(ast_value("round(100 * (a - b), 1)"))
    assert not computed.constant and computed.shown == "round(100 * (a - b), 1)"
    assert similarity.answer_of(ast_value("2 ** 10_000")).constant is False  # not evaluated


def test_student_id_is_read_without_running_anything():
    cells = [nbformat.v4.new_code_cell(s) for s in ("x = 1", 'STUDENT_ID = "Ab12"  # mine')]
    assert similarity._student_id(cells) == "ab12"
    assert similarity._student_id([nbformat.v4.new_code_cell("STUDENT_ID = ...")]) is None
    broken = nbformat.v4.new_code_cell('STUDENT_ID = "zz"\nthis is not python')
    assert similarity._student_id([broken]) == "zz"
    assert similarity._student_id([]) is None


@pytest.mark.slow
def test_the_graded_sample_class_gets_both_reports(graded_class):
    """On the sample class tests/conftest.py grades once per session (Dask, PostgreSQL): the
    summary's two sections, the page and the CSV, with the gradebook's scores per grade id."""
    from nbgrader.api import Gradebook

    path = summary.write_summary(graded_class.course, graded_class.db_url)
    text = path.read_text()
    assert "Not computed" not in text
    copying = text.split("## Possible copying")[1].split("## Free-text")[0]
    assert "broken_notebook_file: unreadable notebook (NotJSONError)" in copying
    page = (path.parent / f"{ASSIGNMENT}_similarity.html").read_text()
    assert "never changes a grade" in page and "broken_notebook_file" in page
    with Gradebook(graded_class.db_url) as gb:
        cells = gb.find_notebook(ASSIGNMENT, ASSIGNMENT).grade_cells
        grade_ids = sorted(c.name for c in cells)
        graded = len(gb.find_assignment(ASSIGNMENT).submissions)
    rows = list(csv.DictReader((path.parent / f"{ASSIGNMENT}_items.csv").open()))
    assert sorted(r["item"] for r in rows if r["kind"] == "grade id") == grade_ids
    assert all(int(r["n"]) <= graded for r in rows if r["kind"] == "grade id")
    items = text.split("## Items")[1].split("## Most common failure")[0]
    for grade_id in grade_ids:
        assert f"| `{grade_id}` |" in items


def test_the_sample_class_copy_is_paired_with_the_student_whose_id_it_carries(tmp_path):
    """copies_passes_all hands in passes_all's notebook (its STUDENT_ID is passes_all's): the
    report ranks that pair first, by the declared id, above every honest pair."""
    from scenarios import sample_class

    (tmp_path / "course").mkdir()
    course = make_course(tmp_path / "course")
    shutil.copytree(COURSE_ROOT / "release", course / "release", dirs_exist_ok=True)
    names = ["passes_all", "copies_passes_all", "course_input_shape_idiom", "wrong_predictions"]
    sample_class.write_class(course, names, release_root=course)
    layout = Layout(course)
    template = similarity.load_template(layout)
    subs, skipped = similarity.read_class(course, template=template)
    assert not skipped
    result = similarity.compare(subs, template, None, minimum=0.0)
    top = result.pairs[0]
    assert (top.a, top.b) == ("copies_passes_all", "passes_all")
    assert top.same_id == "copies_passes_all's notebook declares passes_all's STUDENT_ID"
