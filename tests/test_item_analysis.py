"""Item analysis (course/item_analysis.py): difficulty, discrimination and flags per grade id,
common wrong answers and option counts per answer; then both new reports through the TA
summary on a real (SQLite) nbgrader gradebook filled by hand for the collusion class: no
training, no autograde."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import gradebook, item_analysis, similarity, summary
from course.layout import Layout
from graders import ASSIGNMENT
from tests.test_similarity import PLANTED, collusion_course

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def scores(table: dict[str, dict[str, float]], max_score: float = 4.0):
    return {s: {g: (v, max_score) for g, v in row.items()} for s, row in table.items()}


def by_id(items):
    return {i.grade_id: i for i in items}


def test_a_class_of_one_or_two_says_n_a():
    one = by_id(item_analysis.grade_items(scores({"ada": {"q": 4.0, "r": 0.0}}), ["q", "r"]))
    assert one["q"].n == 1 and one["q"].mean == 4.0 and one["q"].full_share == 1.0
    assert one["q"].r_rest is None and one["q"].d_27 is None and one["q"].flags == []
    two = by_id(
        item_analysis.grade_items(
            scores({"ada": {"q": 4.0, "r": 0.0}, "bob": {"q": 4.0, "r": 4.0}}), ["q", "r"]
        )
    )
    assert two["q"].flags == ["nobody misses it"]
    assert two["r"].r_rest is None and two["r"].d_27 is None
    data = item_analysis.summary_data(item_analysis.Analysis(2, list(two.values()), []))
    assert data["grades"][1] == {
        "grade_id": "r",
        "n": 2,
        "mean": "2/4",
        "full": "50%",
        "r": "n/a",
        "d": "n/a",
        "flags": "",
    }
    empty = item_analysis.grade_items({}, ["q"])
    assert empty[0].n == 0 and empty[0].mean is None


def ranked(item_of) -> dict:
    """Ten students ranked by `base` (0 to 9 of 9); item `q` (of 4) from item_of(rank)."""
    return {f"s{i}": {"base": (float(i), 9.0), "q": (item_of(i), 4.0)} for i in range(10)}


def item_q(item_of) -> item_analysis.GradeItem:
    return by_id(item_analysis.grade_items(ranked(item_of), ["base", "q"]))["q"]


def test_an_item_that_follows_the_rest_of_the_total():
    q = item_q(lambda i: 4.0 if i >= 5 else 0.0)
    x = [4.0 if i >= 5 else 0.0 for i in range(10)]
    assert q.r_rest == pytest.approx(np.corrcoef(x, range(10))[0, 1])
    assert q.r_rest > 0.8 and q.d_27 == pytest.approx(1.0)  # the top 3 all, the bottom 3 none
    assert q.mean == 2.0 and q.full_share == 0.5 and q.flags == []


def test_an_item_the_strong_students_miss_is_flagged():
    q = item_q(lambda i: 4.0 if i < 5 else 0.0)
    assert q.r_rest < -0.8 and q.d_27 == pytest.approx(-1.0)
    assert q.flags == ["most strong students miss it (possible broken question)"]
    q = item_q(lambda i: 4.0 if i in (7, 8) or i < 3 else 0.0)  # 2 of the top 3 get it
    assert q.d_27 == pytest.approx(-1 / 3)
    assert q.flags == ["strong students score lower than weak ones"]


def test_an_item_nobody_misses():
    q = item_q(lambda i: 4.0)
    assert q.flags == ["nobody misses it"] and q.r_rest is None and q.d_27 == 0.0


def answer_class():
    template = similarity.Template(
        answer_items={"why_five": ["concept"], "total": ["counts"]},
        choices={"why_five": ["a", "b", "c", "d"]},
    )
    answers = {
        "ada": ('"a"', "113_386"),
        "bob": ('"c"', "113_322"),
        "cyd": ('"c"', "113_322"),
        "dee": ('"e"', "113386"),
    }
    subs = []
    for student, (choice, total) in answers.items():
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell(f"why_five = {choice}\ntotal = {total}")
        cell.metadata["nbgrader"] = {"grade_id": "answers", "solution": True}
        nb.cells.append(cell)
        subs.append(similarity.read_notebook(student, nb, template))
    grades = {
        "ada": {"concept": (2.0, 2.0), "counts": (2.0, 2.0)},
        "bob": {"concept": (0.0, 2.0), "counts": (0.0, 2.0)},
        "cyd": {"concept": (0.0, 2.0), "counts": (0.0, 2.0)},
        "dee": {"concept": (0.0, 2.0), "counts": (0.0, 2.0)},  # the right total, a slip elsewhere
    }
    return template, subs, grades


def test_common_wrong_answers_and_options():
    template, subs, grades = answer_class()
    items = {a.name: a for a in item_analysis.answer_items(subs, template, grades)}
    why = items["why_five"]
    assert why.answered == 4
    assert why.wrong == [('"c"', 2), ('"e"', 1)]
    assert why.options == [("a", 1), ("b", 0), ("c", 2), ("d", 0), ("e", 1)]  # e: off the list
    total = items["total"]
    assert total.wrong == [("113322", 2)]  # dee's 113386 is what a full-marks student wrote
    assert total.options is None
    blind = {a.name: a for a in item_analysis.answer_items(subs, template, None)}
    assert blind["total"].wrong == [] and not blind["total"].wrong_known
    analysis = item_analysis.Analysis(4, [], list(items.values()))
    data = item_analysis.summary_data(analysis)
    assert data["answers"][0]["wrong"] == '`"c"` (2), `"e"` (1)'
    assert data["answers"][0]["options"] == "a 1, b 0, c 2, d 0, e 1"


def test_the_csv_has_a_row_per_item_and_says_n_a(tmp_path):
    template, subs, grades = answer_class()
    analysis = item_analysis.analyse(grades, ["concept", "counts"], subs, template)
    path = item_analysis.write_csv(analysis, tmp_path / "items.csv")
    rows = list(csv.DictReader(path.open()))
    assert [(r["kind"], r["item"]) for r in rows] == [
        ("grade id", "concept"),
        ("grade id", "counts"),
        ("answer", "why_five"),
        ("answer", "total"),
    ]
    # concept against the rest (counts): ada has both, the others neither
    assert rows[0]["point_biserial_rest"] == "1.000" and rows[0]["upper_lower_27"] == "1.000"
    assert rows[2]["option_counts"] == "a: 1; b: 0; c: 2; d: 0; e: 1"
    alone = item_analysis.analyse({"ada": grades["ada"]}, ["concept"], subs[:1], template)
    row = item_analysis.csv_rows(alone)[0]
    assert row["point_biserial_rest"] == "n/a" and row["upper_lower_27"] == "n/a"


# ------------------------------------------------------------------ through the TA summary


def fill_gradebook(course: Path, grades: dict[str, dict[str, tuple[float, float]]]) -> str:
    url = f"sqlite:///{course}/gradebook.db"
    ids = sorted({g for per in grades.values() for g in per})
    with gradebook.open_gradebook(course, url) as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook(ASSIGNMENT, ASSIGNMENT)
        for gid in ids:
            gb.add_grade_cell(gid, ASSIGNMENT, ASSIGNMENT, max_score=4, cell_type="code")
        for student, per_id in grades.items():
            gb.update_or_create_student(student)
            gb.add_submission(ASSIGNMENT, student)
            for gid in ids:
                grade = gb.find_grade(gid, ASSIGNMENT, ASSIGNMENT, student)
                grade.auto_score = 4.0 * per_id.get(gid, (1.0, 1.0))[0]
                grade.needs_manual_grade = False
            gb.db.commit()
    return url


def test_the_summary_ranks_the_planted_pairs_and_analyses_every_item(tmp_path, monkeypatch):
    bindir = str(Path(sys.executable).parent)  # nbgrader's Gradebook runs `alembic` by name
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv(gradebook.ENV, raising=False)
    course = collusion_course(tmp_path / "course")
    layout = Layout(course)
    template = similarity.load_template(layout)
    subs, _ = similarity.read_class(course, template=template)
    source = nbformat.read(layout.notebook("source"), as_version=4)
    grades = similarity.grades_by_reference(
        subs, template, similarity.reference_answers(source, template)
    )
    url = fill_gradebook(course, grades)
    for student in layout.students():  # "graded": an autograded notebook exists
        shutil.copytree(layout.folder("submitted", student), layout.folder("autograded", student))
    path = summary.write_summary(course, url)
    text = path.read_text()
    copying = text.split("## Possible copying")[1].split("## Free-text")[0]
    ranked = [tuple(sorted(p)) for p in re_pairs(copying)]
    assert set(ranked) == PLANTED and len(ranked) == len(PLANTED), copying
    assert (course / "reports" / f"{ASSIGNMENT}_similarity.html").exists()
    items = text.split("## Items")[1].split("## Most common failure")[0]
    assert "Not computed" not in items
    assert f"{len(subs)} graded submissions." in items
    rows = list(csv.DictReader((course / "reports" / f"{ASSIGNMENT}_items.csv").open()))
    graded_ids = sorted({g for per in grades.values() for g in per})
    assert sorted(r["item"] for r in rows if r["kind"] == "grade id") == graded_ids
    assert {r["item"] for r in rows if r["kind"] == "answer"} == set(template.answer_items)
    conclusion = next(r for r in rows if r["item"] == "gain_source")
    assert conclusion["option_counts"].startswith("a: 0; b: ")


def re_pairs(section: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r"^\d+\. \*\*(\w+)\*\* and \*\*(\w+)\*\*", section, re.MULTILINE)


def test_options_and_wrong_answers_count_the_values_the_verifier_judged(tmp_path):
    """A class that computes its answers by code: the source holds expressions, the saved
    payloads the values. The table counts values, never source text."""
    template = similarity.Template(
        answer_items={"why_five": ["concept_questions"]}, choices={"why_five": ["a", "b"]}
    )
    subs, judged = [], {}
    for student, value in (("ada", "a"), ("bob", "b"), ("cyd", "b")):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell('why_five = "a" if 11 // 2 == 5 else "b"')
        cell.metadata["nbgrader"] = {"grade_id": "concept_answers", "solution": True}
        nb.cells.append(cell)
        subs.append(similarity.read_notebook(student, nb, template))
        grading = tmp_path / student
        grading.mkdir()
        (grading / "concept_questions.json").write_text(
            f'{{"answers": [17, "{value}", "b"], "declared_id": "{student}"}}'
        )
        judged[student] = item_analysis.judged_answers(grading, template)
    grades = {s: {"concept_questions": (6.0 if s == "ada" else 4.0, 6.0)} for s in judged}
    source_only = item_analysis.answer_items(subs, template, grades)[0]
    assert source_only.options[-1][0].startswith("'a' if")  # what the summary showed before
    (why,) = item_analysis.answer_items(subs, template, grades, judged)
    assert why.options == [("a", 1), ("b", 2)]
    assert why.wrong == [('"b"', 2)]
    # a payload that is not the submission's regular small file is not read
    (tmp_path / "ada" / "concept_questions.json").write_text("x" * (item_analysis.MAX_PAYLOAD + 1))
    assert item_analysis.judged_answers(tmp_path / "ada", template) == {}
