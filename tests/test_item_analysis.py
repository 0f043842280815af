"""Item analysis (course/item_analysis.py): difficulty, discrimination and flags per grade id,
common wrong answers and option counts per answer; then both new reports through the TA
summary on a real (SQLite) nbgrader gradebook filled by hand for the collusion class: no
training, no autograde."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import gradebook, item_analysis, similarity, summary
from course.context import GradingContext
from course.layout import Layout
from graders import ASSIGNMENT, public_checks
from graders.reference import right_letter, wrong_letters
from tests.support.collusion import PLANTED, collusion_course

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
        "points": "4",
        "full": "1/2 (50%)",
        "mean": "2",
        "p": "0.50",
        "r": "n/a (not meaningful)",
        "d": "n/a (class too small: D not meaningful)",
        "note": item_analysis.TOO_SMALL.format(min=item_analysis.MIN_CLASS),
        "flags": "",
        "answers": [],
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
    assert q.note == item_analysis.TIED_ITEM.format(k=10, n=10)


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
    verdicts = {  # what the verifier said of each answer (answer_verdicts)
        "ada": {"why_five": True, "total": True},
        "bob": {"why_five": False, "total": False},
        "cyd": {"why_five": False, "total": False},
        "dee": {"why_five": False, "total": True},
    }
    return template, subs, grades, verdicts


def test_common_wrong_answers_and_options():
    template, subs, _, verdicts = answer_class()
    items = {a.name: a for a in item_analysis.answer_items(subs, template, verdicts)}
    why = items["why_five"]
    assert why.answered == 4
    assert why.wrong == [('"c"', 2), ('"e"', 1)]
    assert why.options == [("a", 1), ("b", 0), ("c", 2), ("d", 0), ("e", 1)]  # e: off the list
    total = items["total"]
    assert total.wrong == [("113322", 2)]  # dee's 113386 was judged right
    assert total.options is None
    blind = {a.name: a for a in item_analysis.answer_items(subs, template, None)}
    assert blind["total"].wrong == [] and not blind["total"].wrong_known
    grades = item_analysis.grade_items(answer_class()[2], ["concept", "counts"])
    analysis = item_analysis.Analysis(4, grades, list(items.values()))
    data = item_analysis.summary_data(analysis)
    (why,) = data["grades"][0]["answers"]  # under the grade id that checks it
    assert why["wrong"] == '`"c"` (2), `"e"` (1)'
    assert why["options"] == "a 1, b 0, c 2, d 0, e 1"
    assert blind["total"].wrong_known is False


def test_the_csv_has_a_row_per_item_and_says_n_a(tmp_path):
    template, subs, grades, _ = answer_class()
    analysis = item_analysis.analyse(grades, ["concept", "counts"], subs, template)
    path = item_analysis.write_csv(analysis, tmp_path / "items.csv")
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [(r["kind"], r["item"]) for r in rows] == [
        ("grade id", "concept"),
        ("grade id", "counts"),
        ("answer", "why_five"),
        ("answer", "total"),
    ]
    # concept against the rest (counts): ada has both, the others neither
    assert rows[0]["point_biserial_rest"] == "1.000" and rows[0]["upper_lower_27"] == "1.000"
    assert rows[0]["discrimination_note"].startswith("class too small: D not meaningful")
    assert rows[0]["difficulty_p"] == "0.250" and rows[2]["common_wrong_answers"] == "n/a"
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
    path = summary.write_summary(GradingContext.of(course, db_url=url))
    text = path.read_text()
    copying = text.split("## Possible copying")[1].split("## Free-text")[0]
    ranked = [tuple(sorted(p)) for p in re_pairs(copying)]
    assert set(ranked) == PLANTED and len(ranked) == len(PLANTED), copying
    assert (course / "reports" / f"{ASSIGNMENT}_similarity.html").exists()
    items = text.split("## Items")[1].split("## Points lost")[0]
    assert "Not computed" not in items
    assert f"{len(subs)} graded submissions." in items
    rows = list(
        csv.DictReader((course / "reports" / f"{ASSIGNMENT}_items.csv").read_text().splitlines())
    )
    graded_ids = sorted({g for per in grades.values() for g in per})
    assert sorted(r["item"] for r in rows if r["kind"] == "grade id") == graded_ids
    assert {r["item"] for r in rows if r["kind"] == "answer"} == set(template.answer_items)
    # each student's own letters, counted as the options they name
    conclusion = next(r for r in rows if r["item"] == "gain_source")
    labels = [similarity.option_label(o) for o in public_checks().CHOICES["gain_source"]]
    counts = dict(kv.rsplit(": ", 1) for kv in conclusion["option_counts"].split("; "))
    assert list(counts)[:4] == labels, counts
    assert sum(map(int, counts.values())) == len(subs)


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
    verdicts = {s: {"why_five": s == "ada"} for s in judged}
    source_only = item_analysis.answer_items(subs, template, verdicts)[0]
    assert source_only.options[-1][0].startswith("'a' if")  # what the summary showed before
    (why,) = item_analysis.answer_items(subs, template, verdicts, judged)
    assert why.options == [("a", 1), ("b", 2)]
    assert why.wrong == [('"b"', 2)]
    # a payload that is not the submission's regular small file is not read
    (tmp_path / "ada" / "concept_questions.json").write_text("x" * (item_analysis.MAX_PAYLOAD + 1))
    assert item_analysis.judged_answers(tmp_path / "ada", template) == {}


# ------------------------------------------------------------------ when D means nothing


def test_d_carries_a_note_where_the_class_is_small_or_tied():
    """The one rule (discrimination_note): fewer than MIN_CLASS graded students, nearly
    everyone with one score on the item, or a rest of the total that separates nobody."""
    small = {f"s{i}": {"base": (float(i), 9.0), "q": (4.0 * (i % 2), 4.0)} for i in range(9)}
    q = by_id(item_analysis.grade_items(small, ["base", "q"]))["q"]
    assert q.d_27 is not None and q.note.startswith("class too small: D not meaningful")
    # 9 of 10 pass, and the one who misses is the strongest: D < 0, but that is one student
    q = item_q(lambda i: 0.0 if i == 9 else 4.0)
    assert q.d_27 < 0 and q.note == item_analysis.TIED_ITEM.format(k=9, n=10)
    assert q.note.startswith("tied: D not meaningful")
    assert q.flags == []  # no "strong students score lower" from a tied class
    # 8 of 10 pass: D means something
    q = item_q(lambda i: 0.0 if i < 2 else 4.0)
    assert q.note is None and q.d_27 == pytest.approx(2 / 3)
    # everyone has the same rest of the total: no top and no bottom group to compare
    flat = {f"s{i}": {"base": (9.0, 9.0), "q": (4.0 * (i % 2), 4.0)} for i in range(12)}
    q = by_id(item_analysis.grade_items(flat, ["base", "q"]))["q"]
    assert q.note == item_analysis.TIED_REST
    row = item_analysis.summary_data(item_analysis.Analysis(12, [q], []))["grades"][0]
    assert row["d"].endswith("(tied: D not meaningful)") and row["r"].endswith("(not meaningful)")
    assert item_analysis.csv_rows(item_analysis.Analysis(12, [q], []))[0][
        "discrimination_note"
    ] == (item_analysis.TIED_REST)


def test_a_pending_grade_does_not_rank_students():
    """ranked_by: the rest of the automatic total ranks the class; a TA grade given to some
    and pending for others (None) moves nobody."""
    table = {
        f"s{i}": {"base": (float(i), 9.0), "q": (4.0 if i >= 5 else 0.0, 4.0), "ta": (None, 10.0)}
        for i in range(10)
    }
    table["s0"]["ta"] = (10.0, 10.0)  # the weakest, graded by a TA first
    q = by_id(item_analysis.grade_items(table, ["base", "q", "ta"], ranked_by=["base", "q"]))
    assert q["q"].d_27 == pytest.approx(1.0) and q["ta"].n == 1


# ------------------------------------------------------------------ wrong = judged wrong


def _autograded(student: str, payloads: dict) -> nbformat.NotebookNode:
    """The autograded notebook of `student`: each grade id judged by the real graders (as
    graders.verify does) and written into its cell (as course.nbgrader_plugins does)."""
    from course.nbgrader_plugins import _outputs
    from graders import hidden

    nb = nbformat.v4.new_notebook()
    for grade_id, answers in payloads.items():
        payload = {"answers": answers, "declared_id": student}
        report, all_or_nothing = hidden.judge(grade_id, payload, Path("."), student=student)
        cell = nbformat.v4.new_code_cell("check(...)")
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": True}
        cell.outputs = _outputs(report.verdict(all_or_nothing))
        nb.cells.append(cell)
    return nb


def test_answer_verdicts_follow_the_graders_items():
    """Every check judges its answers in order: one item each, or several for the first
    (values per stage) and one for each later one."""
    nb = _autograded(
        "ada",
        {
            "predict_values_per_image": [[900, 50176, 5184, 1176, 96], "no", None],
            # why_five: a wrong letter of ada's; pooling_discards: her right one
            "concept_questions": [
                17,
                wrong_letters("ada", "why_five")[0],
                right_letter("ada", "pooling_discards"),
            ],
            # 6e's ratios on ada's own model (82.6, 10.8); her Part 4 counts not saved
            "pooling_tradeoff": [
                "no_pooling",
                "no_pooling",
                82.6,
                10.8,
                "no_pooling",
                None,
                None,
                None,
            ],  # fmt: skip
        },
    )
    assert item_analysis.answer_verdicts(nb) == {
        "values_per_image": True,
        "fewer_values_than_pixels": False,  # ada's model: 96 values after pool2 < 900: "yes"
        "receptive_field": True,
        "why_five": False,
        "pooling_discards": True,
        "highest_test_model": True,
        "largest_gap_model": True,
        "params_ratio": True,
        "macs_ratio": True,
        "shift_kept_by": False,
    }


def test_no_value_judged_right_is_listed_as_a_wrong_answer(tmp_path):
    """Each student predicts their own model: ada's receptive field, 17, is right for ada and
    wrong for bob. ada also lost a point elsewhere in the same check, so the old rule (a
    student without full marks, a value no full-marks student wrote) listed her right 17."""
    template = similarity.Template(
        answer_items={
            "receptive_field": ["concept_questions"],
            "why_five": ["concept_questions"],
            "pooling_discards": ["concept_questions"],
        },
        choices={"why_five": ["a", "b", "c", "d"], "pooling_discards": ["a", "b", "c", "d"]},
    )
    # everyone's right letter for why_five; ada's wrong one for pooling_discards
    answers = {
        s: [rf, right_letter(s, "why_five"), right_letter(s, "pooling_discards")]
        for s, rf in (("ada", 17), ("bob", 17), ("cyd", 19))
    }
    answers["ada"][2] = wrong_letters("ada", "pooling_discards")[0]
    subs, judged, verdicts = [], {}, {}
    for student, values in answers.items():
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("receptive_field = 17\nwhy_five = 'a'")
        cell.metadata["nbgrader"] = {"grade_id": "concept_answers", "solution": True}
        nb.cells.append(cell)
        subs.append(similarity.read_notebook(student, nb, template))
        grading = tmp_path / student
        grading.mkdir()
        payload = {"answers": values, "declared_id": student}
        (grading / "concept_questions.json").write_text(json.dumps(payload))
        judged[student] = item_analysis.judged_answers(grading, template)
        autograded = _autograded(student, {"concept_questions": values})
        verdicts[student] = item_analysis.answer_verdicts(autograded)
    assert verdicts["ada"] == {"receptive_field": True, "why_five": True, "pooling_discards": False}
    assert verdicts["bob"]["receptive_field"] is False and verdicts["cyd"]["receptive_field"]
    items = {a.name: a for a in item_analysis.answer_items(subs, template, verdicts, judged)}
    assert items["receptive_field"].wrong == [("17", 1)]  # bob's, not ada's
    assert items["why_five"].wrong == []  # everyone chose their right letter
    assert items["pooling_discards"].wrong == [(json.dumps(answers["ada"][2]), 1)]
    assert items["receptive_field"].answered == 3


def test_an_answer_left_as_the_release_gave_it_is_not_a_value(tmp_path):
    template = similarity.Template(answer_items={"why_five": ["concept_questions"]})
    payload = {"answers": [{"__opaque__": "Ellipsis"}, {"__opaque__": "Ellipsis"}, "b"]}
    (tmp_path / "concept_questions.json").write_text(json.dumps(payload))
    assert item_analysis.judged_answers(tmp_path, template) == {}
    # a check that also reads a provided cell's numbers saves only the answers
    template = similarity.Template(answer_items={"robust_model": ["shift_reading"]})
    payload = {"answers": ["pool2", "conv", "smaller"], "measured": {}}
    (tmp_path / "shift_reading.json").write_text(json.dumps(payload))
    assert item_analysis.judged_answers(tmp_path, template)["robust_model"].shown == '"conv"'
