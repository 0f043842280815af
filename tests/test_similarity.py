"""The similarity report (course/similarity/) on the collusion class (scenarios/
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
from markupsafe import escape

from course import similarity, summary
from course.context import GradingContext
from course.layout import COURSE_ROOT, Layout
from graders import ASSIGNMENT
from scenarios import collusion_class
from tests.support.collusion import PLANTED, collusion_course
from tests.support.course import make_course

BUILD = collusion_class.BUILD_CELL


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


# ------------------------------------------------------------------ clusters and sources

# Part 4 answers judged on each student's own model: vera writes her model's numbers as
# literals; vince (her id, as in the class) and vic (his own id) hand in her notebook.
RING_ANSWERS = {
    "predicted_total": "98_442",
    "no_pooling_total": "1_204_810",
    "receptive_field": "9",
}
MODEL_GRADE_IDS = ("predict_param_counts", "predict_no_pooling_variant", "concept_questions")


def ring_notebooks() -> dict:
    """The collusion class with a ring of three: vera, and vince and vic who copied her."""
    notebooks = collusion_class.class_notebooks()
    vera = notebooks["vera"]
    for name, value in RING_ANSWERS.items():
        assert collusion_class.set_answer(vera, name, value), name
    notebooks["vince"] = copy.deepcopy(vera)  # still declares vera's STUDENT_ID
    vic = copy.deepcopy(vera)
    collusion_class.set_student_id(vic, "vic")
    notebooks["vic"] = vic
    return notebooks


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    """The ring's course, its submissions and grades as the gradebook would give them: the
    solution's literal answers, and the Part 4 grade ids full for vera (the numbers are her
    model's), zero for vince and vic (graded on their own models)."""
    course = collusion_course(tmp_path_factory.mktemp("ring"), ring_notebooks())
    layout = Layout(course)
    template = similarity.load_template(layout)
    subs, skipped = similarity.read_class(course, template=template)
    assert not skipped
    read = (layout, template, subs)
    grades = reference_grades(read)
    for student, score in (("vera", 1.0), ("vince", 0.0), ("vic", 0.0)):
        for grade_id in MODEL_GRADE_IDS:
            grades[student][grade_id] = (score, 1.0)
    return compare(read, grades, minimum=similarity.REPORT_MIN)


def test_three_students_who_share_are_one_cluster_listed_once(ring):
    ring_pairs = {("vera", "vince"), ("vera", "vic"), ("vic", "vince")}
    assert ring_pairs <= {(p.a, p.b) for p in ring.pairs}  # three pairs ...
    first = ring.clusters[0]  # ... one group, the strongest
    assert first.members == ["vera", "vic", "vince"]
    assert {(p.a, p.b) for p in first.pairs} == ring_pairs
    assert [p.score for p in first.pairs] == sorted((p.score for p in first.pairs), reverse=True)
    # every listed pair in exactly one group; the other planted pairs are groups of two
    grouped = [(p.a, p.b) for c in ring.clusters for p in c.pairs]
    assert sorted(grouped) == sorted((p.a, p.b) for p in ring.pairs)
    assert {tuple(c.members) for c in ring.clusters[1:]} == PLANTED - {("vera", "vince")}
    page = similarity.render_html(ring)
    assert page.count(">Group 1: vera, vic, vince</h2>") == 1
    assert page.count("<td>vera, vic, vince</td>") == 1  # the overview: one row for the group
    markdown = similarity.render_markdown(ring)
    assert markdown.count("**vera**, **vic** and **vince**") == 1
    assert markdown.startswith("1. A group of 3: **vera**, **vic** and **vince**, 3 pairs;")
    assert re.search(r"^[23]\. \*\*rick\*\* and \*\*rosa\*\*, 5\.0 points: ", markdown, re.M)
    rows = similarity.summary_rows(ring)  # the TA summary's rows: each pair, its group
    assert {(r["a"], r["b"]) for r in rows if r["cluster"] == 1} == ring_pairs


def test_whose_answers_are_right_names_the_likely_source_and_the_copier(ring):
    pairs = {(p.a, p.b): p for p in ring.pairs}
    reasons = {key: " ".join(p.reasons()) for key, p in pairs.items()}
    values = "no_pooling_total = 1204810 (1 other student wrote it); predicted_total = 98442"
    assert (
        f"same answers, right for vera's model, wrong for vince's: {values}"
        in reasons["vera", "vince"]
    )
    assert (
        f"same answers, right for vera's model, wrong for vic's: {values}" in reasons["vera", "vic"]
    )
    assert (  # the two copiers: wrong for both, and whose answers they are
        "same answers, right for vera's model (who wrote the same), wrong for vic's and "
        f"vince's: {values}"
    ) in reasons["vic", "vince"]
    assert not any("wrong for one of them" in r for r in reasons.values())
    assert pairs["vera", "vince"].direction == ("vera", "vince")  # the answers and the id agree
    assert pairs["vera", "vic"].direction == ("vera", "vic")  # the answers alone
    assert pairs["vic", "vince"].likely_source == ""  # neither is the source ...
    first = ring.clusters[0]
    assert first.likely_source == "vera"  # ... of the group: vera
    assert first.basis == (
        "the shared answers are right for vera's model, wrong for vic's and vince's; "
        "vera's STUDENT_ID is in vince's notebook"
    )
    # a pair whose answers are wrong for both and right for nobody names no source
    assert all(c.likely_source == "" for c in ring.clusters[1:])
    page = similarity.render_html(ring)
    assert "Likely source: <strong>vera</strong>" in page
    assert "<td>right for vera&#39;s model, wrong for vince&#39;s</td>" in page
    assert "likely source **vera** (the shared answers are right for vera's model" in (
        similarity.render_markdown(ring)
    )


def _sections(page: str) -> dict[str, str]:
    """pair heading -> the HTML of its section."""
    out = {}
    for part in page.split('<section aria-labelledby="pair-')[1:]:
        heading = re.search(r"<h3 [^>]*>([^<]*): [\d.]+ points</h3>", part).group(1)
        out[heading] = part.split("</section>")[0]
    return out


def _html(text: str) -> str:
    return str(escape(text))  # as the page's autoescape writes it


def test_evidence_appears_once_per_pair(ring):
    page = similarity.render_html(ring)
    overview = page.split('<section aria-labelledby="group-')[0]
    sections = _sections(page)
    assert sorted(sections) == sorted(f"{p.a} and {p.b}" for p in ring.pairs)
    for p in ring.pairs:
        section = sections[f"{p.a} and {p.b}"]
        for reason in p.reasons(answer_values=False):
            assert section.count(_html(reason)) == 1, reason
            assert _html(reason) not in overview  # the overview has no evidence
        for a in p.answers:  # each shared value once, in the answers table
            assert section.count(f"<code>{_html(a.shown)}</code>") == 1, a
        for reason in p.reasons():  # the answers' values are not written out again
            if " = " in reason:
                assert _html(reason) not in page
    # the Markdown list (the TA summary's): one line per pair, its reasons once
    lines = similarity.render_markdown(ring).splitlines()
    for p in ring.pairs:
        pair = re.compile(rf"^(\d+\.|   -) \*\*{p.a}\*\* and \*\*{p.b}\*\*, [\d.]+ points")
        mine = [line for line in lines if pair.match(line)]
        assert len(mine) == 1, mine
        for reason in p.reasons():
            assert mine[0].count(reason) == 1
        assert len(set(p.reasons())) == len(p.reasons())


@pytest.mark.parametrize("holders", [3, 4, 14])
def test_an_answer_many_students_share_contributes_nothing(tmp_path, holders):
    """walt and wanda and others write the same `receptive_field`: a ring of three still
    counts (2/3, half of it without grades); four or more (14 of a class, as the lab's own
    number would be) count nothing, though the old rule (more than half) let 4 of 16 count."""
    notebooks = collusion_class.class_notebooks()
    names = ["walt", "wanda"] + [n for n in notebooks if n not in ("walt", "wanda", "vince")]
    for name in names[:holders]:
        assert collusion_class.set_answer(notebooks[name], "receptive_field", "23")
    result = similarity.analyse(collusion_course(tmp_path, notebooks), minimum=0.0)
    shared = [
        a
        for p in result.pairs
        for a in p.answers
        if a.name == "receptive_field" and a.shown == "23"
    ]
    walt_wanda = next(p for p in result.pairs if (p.a, p.b) == ("walt", "wanda"))
    if holders <= similarity.ANSWER_MAX_HOLDERS:
        assert len(shared) == 3  # the three pairs of the three holders
        assert all(a.points == pytest.approx(similarity.UNKNOWN_ANSWER * 2 / 3) for a in shared)
        assert "receptive_field = 23 (1 other student wrote it)" in " ".join(walt_wanda.reasons())
    else:
        assert shared == []  # no points, no reason, in no pair
        assert not any("receptive_field = 23" in r for p in result.pairs for r in p.reasons())
    listed = {(p.a, p.b) for p in result.pairs if p.score >= similarity.REPORT_MIN}
    assert listed == PLANTED  # and no honest pair is listed


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
    assert similarity.reading.declared_student_id(cells) == "ab12"
    assert (
        similarity.reading.declared_student_id([nbformat.v4.new_code_cell("STUDENT_ID = ...")])
        is None
    )
    broken = nbformat.v4.new_code_cell('STUDENT_ID = "zz"\nthis is not python')
    assert similarity.reading.declared_student_id([broken]) == "zz"
    assert similarity.reading.declared_student_id([]) is None


@pytest.mark.slow
def test_the_graded_sample_class_gets_both_reports(graded_class):
    """On the sample class tests/conftest.py grades once per session (Dask, PostgreSQL): the
    summary's two sections, the page and the CSV, with the gradebook's scores per grade id."""
    from nbgrader.api import Gradebook

    path = summary.write_summary(GradingContext.of(graded_class.course, db_url=graded_class.db_url))
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
