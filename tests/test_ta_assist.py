"""The Part 7 assistant (course/ta_assist*.py): a class of answers from the labelled set goes
through it with a real nbgrader gradebook (SQLite, built with nbgrader's Gradebook API in a
temporary course); proposals reach the gradebook only when accepted, never over a TA's grade,
and a second run changes nothing. Each rule that keeps an answer from a proposal has its test.
The page is opened in Chromium and audited with axe-core (``system``)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import nbformat
import pytest

from benchmarks import ta_assist as bench
from course import gradebook, similarity
from course import ta_assist_class as tac
from course.context import GradingContext
from course.layout import Layout
from course.ta_assist import (
    MARKER,
    MIN_CRITERIA_GRADED,
    TAAssist,
    assist,
    budget_size,
    criteria_matched,
    never_proposed,
)
from graders import ASSIGNMENT
from tests.support import browser as browser_support
from tests.support.course import make_course

# nbgrader's Gradebook creates its database with alembic, another process
GRADEBOOK = pytest.mark.process
LABELLED = Path(__file__).parent / "fixtures" / "part7_labelled.jsonl"
ROWS = {r["id"]: r for r in map(json.loads, LABELLED.read_text().splitlines())}
chromium = browser_support.browser  # Debian's Chromium through Playwright (a system fixture)
CRITERIA = ("information", "weight_sharing", "evidence", "controls", "shifts")
# The class: 24 built answers, two copies of them, and one answer of each kind never proposed.
CLASS = [f"a{i:03d}" for i in range(1, 25)] + ["a169", "a165", "a150", "a145", "a158"]
COPIES = {"a169": "a001", "a165": "a015"}
SIMILARITY = TAAssist(method="similarity", budget=0.0)  # the first method, kept for comparison
BY_DISTANCE = TAAssist(budget=0.0, min_confidence=0.7)  # the default before the fixed budget

# ------------------------------------------------------------------ the labelled set


def test_the_labelled_set_spans_every_criterion_level_and_kind():
    rows = list(ROWS.values())
    assert len(rows) >= 150
    for r in rows:
        assert r["score"] == sum(r["criteria"].values()) and 0 <= r["score"] <= 10, r["id"]
    for c in CRITERIA:
        assert {r["criteria"][c] for r in rows} == {0, 1, 2}, c
    kinds = {r["kind"] for r in rows}
    assert {"trap", "restate", "off_topic", "short", "other_language", "copy", "free"} <= kinds
    assert {r["score"] for r in rows} == set(range(11))
    assert len({r["text"] for r in rows}) == len(rows)  # no two answers exactly alike


def test_the_split_is_deterministic_and_about_half():
    tuning, held = bench.split(list(ROWS.values()))
    assert 0.4 < len(tuning) / len(ROWS) < 0.6
    assert not {r["id"] for r in tuning} & {r["id"] for r in held}
    assert [r["id"] for r in bench.split(list(reversed(ROWS.values())))[0]][::-1] == [
        r["id"] for r in tuning
    ]


# ------------------------------------------------------------------ the rules, on texts alone


def answer(key: str) -> str:
    return ROWS[key]["text"]


def quiet_assist(*args, **kwargs):
    """assist() with every warning an error: the method must print nothing to stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return assist(*args, **kwargs)


def levels(key: str) -> dict[str, int]:
    return dict(ROWS[key]["criteria"])


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("a150", "very short"),  # "Conv is better."
        ("a151", "very short"),
        ("a158", "another language"),  # German
        ("a159", "another language"),  # Spanish
        ("a145", "off topic"),  # banana bread
        ("a144", "off topic"),
    ],
)
def test_never_proposed_by_rule(key, reason):
    assert reason in never_proposed(answer(key), TAAssist())


def test_answers_of_the_class_pass_the_rules():
    kept = [k for k, r in ROWS.items() if r["kind"] in ("built", "trap", "copy")]
    rejected = [k for k in kept if never_proposed(answer(k), TAAssist())]
    assert len(rejected) <= 1, rejected  # one built answer is two sentences long


def test_a_copy_of_a_graded_answer_gets_its_score_with_the_evidence():
    texts = {s: answer(s) for s in CLASS}
    plan = quiet_assist(texts, {"a001": 7.0}, {}, SIMILARITY)
    item = plan.items["a169"]  # a001 with a few words changed
    assert item.proposal == 7.0 and item.follows == "a001"
    assert item.neighbours[0].student == "a001" and item.neighbours[0].similarity > 0.9
    assert item.criteria and any(item.criteria.values())
    assert plan.items["a001"].group == item.group


@pytest.mark.parametrize("key", ["a150", "a158", "a145"])
def test_excluded_answers_get_no_proposal_even_beside_a_graded_copy(key):
    texts = {"x": answer(key), "y": answer(key), "g": answer("a001")}
    plan = quiet_assist(texts, {"y": 3.0, "g": 7.0}, {})
    assert plan.items["x"].proposal is None and plan.items["x"].abstained
    assert plan.items["x"].group is None


def test_a_student_flagged_by_the_similarity_report_gets_no_proposal():
    texts = {s: answer(s) for s in CLASS}
    plan = quiet_assist(texts, {"a001": 7.0}, {"a169": "paired with a001, 6.0 points"})
    assert plan.items["a169"].proposal is None
    assert "similarity report" in plan.items["a169"].abstained


def test_below_the_margin_the_assistant_abstains():
    """Two graded answers as close as each other, with other scores: no proposal."""
    base = answer("a001")
    texts = {"x": base, "g1": base + " Thanks!", "g2": base + " Cheers!"}
    plan = quiet_assist(texts, {"g1": 6.0, "g2": 8.0}, {}, SIMILARITY)
    assert plan.items["x"].proposal is None
    assert "margin" in plan.items["x"].abstained
    # the same two graded with one score: a proposal
    plan = quiet_assist(texts, {"g1": 6.0, "g2": 6.0}, {}, SIMILARITY)
    assert plan.items["x"].proposal == 6.0


def test_below_the_minimum_similarity_the_assistant_abstains():
    texts = {"x": answer("a002"), "g": answer("a003")}  # two different answers
    plan = quiet_assist(texts, {"g": 5.0}, {}, SIMILARITY)
    assert plan.items["x"].proposal is None
    assert "only" in plan.items["x"].abstained


def test_when_the_keyword_profiles_differ_the_similarity_method_abstains():
    """A copy whose keyword profile differs from its graded original's: no proposal."""
    base = answer("a001")
    texts = {"x": base + " Conv wins because it has fewer parameters.", "g": base}
    plan = quiet_assist(texts, {"g": 8.0}, {}, SIMILARITY)
    assert "criteria found differ" in plan.items["x"].abstained
    loose = TAAssist(method="similarity", criteria_must_agree=False)
    assert quiet_assist(texts, {"g": 8.0}, {}, loose).items["x"].proposal == 8.0


# ------------------------------------------------------------------ the default: by criterion

BUILT = [k for k, r in ROWS.items() if r["kind"] == "built"][:70]


def by_criterion(cfg=None, extra=None, ta_levels=None, texts=None):
    """The TA grades every group's representative by criterion; the rest get proposals."""
    texts = texts or {s: answer(s) for s in BUILT}
    texts = texts | (extra or {})
    reps = [g[0] for g in quiet_assist(texts, {}, {}, cfg).groups if g[0] in ROWS]
    ta_levels = ta_levels or {s: levels(s) for s in reps}
    return quiet_assist(texts, {s: float(ROWS[s]["score"]) for s in reps}, {}, cfg, ta_levels)


def test_by_criterion_a_proposal_is_the_sum_of_confident_levels():
    plan = by_criterion()
    ungraded = [i for i in plan.items.values() if i.ta_score is None]
    proposed = plan.proposals()
    assert len(proposed) >= len(ungraded) // 3, [i.abstained for i in ungraded]
    for item in proposed:
        assert item.proposal == sum(item.levels.values())
        assert set(item.levels) == set(levels(item.student))
        assert all(p >= TAAssist().min_confidence for _, p in item.confidence.values())
        assert item.neighbours  # the nearest graded answers, as evidence
    right = sum(i.proposal == ROWS[i.student]["score"] for i in proposed)
    assert right >= 0.8 * len(proposed)


def test_by_criterion_below_the_confidence_the_assistant_abstains():
    plan = by_criterion(TAAssist(min_confidence=1.0))
    assert not plan.proposals()
    ungraded = [i for i in plan.items.values() if i.ta_score is None]
    assert all("unsure of a criterion" in i.abstained for i in ungraded)


def test_by_criterion_nothing_is_proposed_before_every_representative_is_graded():
    texts = {s: answer(s) for s in BUILT}
    reps = [g[0] for g in quiet_assist(texts, {}, {}).groups]
    some = {s: levels(s) for s in reps[1:]}  # all but one
    plan = quiet_assist(texts, {s: float(ROWS[s]["score"]) for s in reps}, {}, None, some)
    assert not plan.proposals()
    ungraded = [i for i in plan.items.values() if i.ta_score is None]
    assert all("not graded by criterion yet" in i.abstained for i in ungraded)


def test_by_criterion_too_few_graded_answers_means_no_proposal():
    pairs = ["a001", "a169", "a015", "a165"]  # two answers and their copies
    cfg = TAAssist(budget=0.0, min_confidence=0.0)  # a budget grades all four
    plan = by_criterion(cfg, texts={s: answer(s) for s in pairs})
    assert not plan.proposals()
    ungraded = [i for i in plan.items.values() if i.ta_score is None]
    assert ungraded and all("by criterion (under" in i.abstained for i in ungraded)
    assert MIN_CRITERIA_GRADED > 2


def test_by_criterion_a_level_the_ta_never_gave_is_not_guessed():
    texts = {s: answer(s) for s in BUILT}
    reps = [g[0] for g in quiet_assist(texts, {}, {}).groups]
    flat = {s: {**levels(s), "shifts": 0} for s in reps}
    scores = {s: float(sum(flat[s].values())) for s in reps}
    plan = quiet_assist(texts, scores, {}, TAAssist(min_confidence=0.0), flat)
    assert not plan.proposals()
    ungraded = [i for i in plan.items.values() if i.ta_score is None]
    assert all("shifts: the TA's grades show one level only" in i.abstained for i in ungraded)


def test_by_criterion_the_trap_is_left_to_the_ta():
    trap = next(k for k, r in ROWS.items() if r["kind"] == "trap")
    plan = by_criterion(TAAssist(min_confidence=0.0), extra={"t": answer(trap)})
    assert plan.items["t"].proposal is None
    assert "fewer parameters" in plan.items["t"].abstained


# ------------------------------------------------------------------ the fixed TA budget


def test_a_budget_buys_a_share_of_the_class_rounded_up_and_never_under_the_minimum():
    assert budget_size(100, 0.3) == 30
    assert budget_size(101, 0.3) == 31  # rounded up
    assert budget_size(10, 0.3) == MIN_CRITERIA_GRADED  # never fewer than the classifiers need
    assert budget_size(5, 0.3) == 5  # nor more than the class
    assert budget_size(0, 0.3) == 0


@pytest.mark.parametrize("clustering", ["agglomerative", "kmeans"])
def test_with_a_budget_the_ta_grades_that_many_representatives(clustering):
    texts = {s: answer(s) for s in BUILT}
    cfg = TAAssist(budget=0.3, budget_clustering=clustering)
    plan = quiet_assist(texts, {}, {}, cfg)
    pool = [i for i in plan.items.values() if i.group is not None]
    assert len(plan.groups) == budget_size(len(pool), 0.3)
    assert sum(map(len, plan.groups)) == len(pool)
    sizes = [len(g) for g in plan.groups]
    assert sizes == sorted(sizes, reverse=True)
    assert all(plan.items[g[0]].representative for g in plan.groups)
    assert sum(i.representative for i in plan.items.values()) == len(plan.groups)
    assert quiet_assist(texts, {}, {}, cfg).groups == plan.groups  # the same on every run


def test_with_a_budget_fewer_answers_are_graded_than_by_distance():
    texts = {s: answer(s) for s in BUILT}
    budget = quiet_assist(texts, {}, {}, TAAssist(budget=0.3)).groups
    by_distance = quiet_assist(texts, {}, {}, BY_DISTANCE).groups
    assert len(budget) < len(by_distance)


def test_with_a_budget_the_ta_grades_the_representatives_and_the_others_get_proposals():
    plan = by_criterion(TAAssist(budget=0.3))
    graded = {s for s, i in plan.items.items() if i.ta_score is not None}
    assert graded == {g[0] for g in plan.groups}
    for item in plan.proposals():
        assert item.student not in graded and item.proposal == sum(item.levels.values())


def test_with_a_budget_every_rule_still_keeps_answers_from_a_proposal():
    trap = next(k for k, r in ROWS.items() if r["kind"] == "trap")
    extra = {"t": answer(trap), "short": answer("a150"), "de": answer("a158")}
    extra |= {"off": answer("a145"), "copy": answer("a001")}
    texts = {s: answer(s) for s in BUILT} | extra
    cfg = TAAssist(budget=0.3, min_confidence=0.0)
    reps = [g[0] for g in quiet_assist(texts, {}, {"copy": "paired with a001"}, cfg).groups]
    plan = quiet_assist(
        texts,
        {s: float(ROWS[s]["score"]) for s in reps},
        {"copy": "paired with a001"},
        cfg,
        {s: levels(s) for s in reps},
    )
    assert plan.proposals()  # the others get proposals at confidence 0
    assert "fewer parameters" in plan.items["t"].abstained
    assert "very short" in plan.items["short"].abstained
    assert "another language" in plan.items["de"].abstained
    assert "off topic" in plan.items["off"].abstained
    assert "similarity report" in plan.items["copy"].abstained
    assert all(
        plan.items[k].proposal is None and plan.items[k].group is None for k in set(extra) - {"t"}
    )


def test_the_tas_levels_are_read_from_the_comment_only_when_they_add_up():
    assert tac.levels_in("criteria 2 1 2 0 1, kind reply", 6.0) == dict(
        zip(CRITERIA, (2, 1, 2, 0, 1), strict=True)
    )
    assert tac.levels_in("Criteria: 2/1/2/0/1", 6.0) is not None
    assert tac.levels_in("criteria 2 1 2 0 1", 7.0) is None  # the score says otherwise
    assert tac.levels_in("graded by hand", 6.0) is None
    assert tac.levels_in(None, None) is None


def test_the_keyword_rules_find_the_criteria_of_a_full_answer():
    full = next(r for r in ROWS.values() if r["kind"] == "free" and r["score"] == 10)
    found = criteria_matched(full["text"])
    assert all(found[c] for c in CRITERIA), found


def test_the_groups_are_ordered_and_each_has_its_representative_first():
    texts = {s: answer(s) for s in CLASS}
    plan = quiet_assist(texts, {}, {})
    sizes = [len(g) for g in plan.groups]
    assert sizes == sorted(sizes, reverse=True)
    assert all(plan.items[g[0]].representative for g in plan.groups)
    assert sum(sizes) + sum(i.group is None for i in plan.items.values()) == len(CLASS)
    assert not plan.proposals()  # nothing graded yet: nothing proposed


# ------------------------------------------------------------------ a class with a gradebook


def notebook(text: str):
    nb = nbformat.v4.new_notebook()
    task = nbformat.v4.new_markdown_cell("## Part 7", id=tac.TASK)
    task.metadata["nbgrader"] = {"grade_id": tac.TASK, "task": True, "points": 10}
    nb.cells = [task, nbformat.v4.new_markdown_cell(text, id=similarity.WRITTEN_ANSWER_ID)]
    return nb


def make_class(root: Path, students=CLASS) -> GradingContext:
    """A course folder whose gradebook (nbgrader's API, SQLite) has the assignment, its Part 7
    task cell and one submission per student, and whose autograded/ and submitted/ folders
    hold each student's answer."""
    root.mkdir(parents=True)
    course = make_course(root)
    grading = GradingContext.of(course)
    layout = grading.layout
    with gradebook.open_gradebook(course, grading.db_url) as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook(ASSIGNMENT, ASSIGNMENT)
        gb.add_task_cell(tac.TASK, ASSIGNMENT, ASSIGNMENT, max_score=10, cell_type="markdown")
        for s in students:
            gb.add_student(s)
            with gb.db.no_autoflush:  # else SQLAlchemy warns inside nbgrader's add_submission
                gb.add_submission(ASSIGNMENT, s)
    for s in students:
        for step in ("autograded", "submitted"):
            path = layout.notebook(step, s)
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook(answer(s)), path)
    return grading


def ta_grades(
    grading: GradingContext, scores: dict[str, float], comment="TA: graded by hand", by_level=False
):
    """What formgrader writes when the TA grades: a manual score and comment (`by_level`: with
    the answer's levels per criterion, "criteria 2 1 2 0 1", as docs/ta_assist.md asks)."""
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        for s, score in scores.items():
            grade = gb.find_grade(tac.TASK, ASSIGNMENT, ASSIGNMENT, s)
            grade.manual_score = score
            grade.needs_manual_grade = False
            text = f"{comment}; {tac.levels_text(levels(s))}" if by_level else comment
            gb.find_comment(tac.TASK, ASSIGNMENT, ASSIGNMENT, s).manual_comment = text
        gb.db.commit()


def graded_representatives(grading: GradingContext) -> None:
    """The TA grades every group's representative by criterion (their labels)."""
    plan, _ = tac.plan_for(grading, flags={})
    ta_grades(grading, {g[0]: float(ROWS[g[0]]["score"]) for g in plan.groups}, by_level=True)


def snapshot(grading: GradingContext) -> dict[str, tuple]:
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        return {
            s: (
                gb.find_grade(tac.TASK, ASSIGNMENT, ASSIGNMENT, s).manual_score,
                gb.find_comment(tac.TASK, ASSIGNMENT, ASSIGNMENT, s).manual_comment,
            )
            for s in CLASS
        }


@pytest.fixture
def graded(tmp_path):
    """The class after the TA graded every group's representative (their labels)."""
    grading = make_class(tmp_path / "course")
    graded_representatives(grading)
    return grading


@GRADEBOOK
def test_nothing_reaches_the_gradebook_until_the_ta_accepts(graded):
    before = snapshot(graded)
    plan, recorded = tac.plan_for(graded, flags={})
    assert plan.proposals()
    tac.write_page(graded, plan, recorded)
    assert snapshot(graded) == before
    assert not tac.record_path(graded.layout).exists()


@GRADEBOOK
def test_accepted_proposals_are_manual_grades_and_the_tas_own_grade_wins(graded):
    plan, _ = tac.plan_for(graded, flags={})
    proposed = {i.student: i for i in plan.proposals()}
    assert len(proposed) >= 2, [i.abstained for i in plan.items.values()]
    overridden = sorted(proposed)[0]  # the TA grades it between the page and accepting (stale)
    ta_grades(graded, {overridden: 2.0}, comment="TA: too close to a001, see me")
    before = snapshot(graded)
    lines = tac.accept(graded, plan, None)
    after = snapshot(graded)
    assert any(line.startswith(f"{overridden}: kept the TA's grade") for line in lines)
    assert after[overridden] == (2.0, "TA: too close to a001, see me")
    for s, item in proposed.items():
        if s == overridden:
            continue
        score, comment = after[s]
        assert score == item.proposal
        assert comment.startswith(MARKER) and tac.levels_text(item.levels) in comment
    for s in set(CLASS) - set(proposed):  # the TA's grades and the ungraded: untouched
        assert after[s] == before[s]
    record = json.loads(tac.record_path(graded.layout).read_text())
    assert set(record) == set(proposed) - {overridden}
    assert all(record[s]["criteria"] == proposed[s].levels for s in record)  # per criterion
    assert tac.accepted_count(graded) == len(proposed) - 1


@GRADEBOOK
def test_running_again_overwrites_nothing(graded):
    tac.accept(graded, tac.plan_for(graded, flags={})[0], None)
    first = snapshot(graded)
    lines = tac.accept(graded, tac.plan_for(graded, flags={})[0], None)
    assert snapshot(graded) == first
    assert lines and all(": already accepted (" in line for line in lines), lines
    # the TA changes an accepted grade in formgrader: from then on it is the TA's
    accepted = sorted(json.loads(tac.record_path(graded.layout).read_text()))
    ta_grades(graded, {accepted[0]: 9.0})
    count = tac.accepted_count(graded)
    tac.accept(graded, tac.plan_for(graded, flags={})[0], None)
    assert snapshot(graded)[accepted[0]] == (9.0, "TA: graded by hand")
    assert tac.accepted_count(graded) == count == len(accepted) - 1


@GRADEBOOK
def test_the_similarity_report_flags_the_copies_and_the_command_proposes_none_for_them(graded):
    flags = tac.similarity_flags(graded.root, ASSIGNMENT)
    assert {"a169", "a001"} <= set(flags), flags
    plan, _ = tac.plan_for(graded)  # the real similarity report
    for s in COPIES:
        assert plan.items[s].proposal is None
        assert "similarity report" in plan.items[s].abstained


@GRADEBOOK
def test_the_command_writes_the_page_and_accepts_nothing_the_report_flags(graded, capsys):
    """End to end through the CLI, with the real similarity report: the copies are flagged, so
    they get no proposal; `accept --all` writes the others' proposals only."""
    before = snapshot(graded)
    assert tac.main(["--course", str(graded.root)]) == 0
    page = tac.page_path(graded.layout).read_text()
    assert "Part 7 grading assistant" in page and "flagged by the similarity report" in page
    assert tac.main(["accept", "--course", str(graded.root), "--student", "a169"]) == 0
    out = capsys.readouterr().out
    assert "a169: no proposal (flagged by the similarity report (paired with a001" in out
    assert tac.main(["accept", "--course", str(graded.root), "--all"]) == 0
    after = snapshot(graded)
    for s in CLASS:
        if after[s] != before[s]:  # an accepted proposal, never a copy or a TA's grade
            assert s not in COPIES and before[s] == (None, None)
            assert after[s][1].startswith(MARKER)
    with pytest.raises(SystemExit):
        tac.main(["accept", "--course", str(graded.root)])  # neither --student nor --all
    with pytest.raises(SystemExit):
        tac.main(["accept", "--course", str(graded.root), "--student", "nobody"])
    capsys.readouterr()


# ------------------------------------------------------------------ the page, in Chromium


@GRADEBOOK
def test_the_page_in_chromium_has_no_serious_axe_violation(tmp_path, chromium):
    from axe_playwright_python.sync_playwright import Axe

    grading = make_class(tmp_path / "course")
    graded_representatives(grading)
    tac.accept(grading, tac.plan_for(grading, flags={})[0], ["a165"])
    plan, recorded = tac.plan_for(grading, flags={})
    page_file = tac.write_page(grading, plan, recorded)
    with browser_support.new_page(chromium) as page:
        page.goto(page_file.as_uri())
        assert page.locator("h1").inner_text().endswith("Part 7 grading assistant")
        headings = page.locator("h3").all_inner_texts()
        assert len(headings) == len(plan.groups)
        assert headings[0].startswith("Group 1:")
        body = page.locator("main").inner_text()
        assert "accepted proposal: " in body and "graded by the TA: " in body
        assert "python -m course ta-assist accept --student" in body
        assert re.search(r"very short|another language|off topic", body)
        violations = Axe().run(page).response["violations"]
    severe = [(v["id"], len(v["nodes"])) for v in violations if v["impact"] in SEVERE]
    assert not severe, severe


SEVERE = {"serious", "critical"}


def test_layout_paths_are_in_reports(tmp_path):
    layout = Layout(tmp_path)
    assert tac.page_path(layout).parent == layout.reports
    assert tac.record_path(layout).name == f"{ASSIGNMENT}_ta_assist.json"


def test_the_ta_summary_says_how_many_grades_came_from_accepted_proposals():
    from course import summary
    from tests.support.summary_data import class_data

    text = summary.render({**class_data(), "ta_assist": 3})
    assert "3 Part 7 grades came from the assistant's proposals the TA accepted" in text
    assert "assistant's proposals" not in summary.render(class_data())  # no gradebook read
