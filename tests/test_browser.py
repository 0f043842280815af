"""What students and TAs see, in a real browser: Debian's Chromium driven by Playwright.

Student: JupyterLab started in a folder holding only the released files (so nbgrader's
Validate reads the released nbgrader_config.py and its time limits), Run All Cells, then
nbgrader's Validate toolbar button. A correct notebook gets "Success" after training for
real; the unanswered release gets a dialog naming what is missing and no hidden test.

TA: formgrader on a course with one graded submission. A manual score and a comment for
`explain_accuracy_gain` typed into the manual grading page land in the gradebook and in the
regenerated feedback.

Screenshots of the key moments go to docs/screenshots/ when C1W3_SCREENSHOTS=1 (they are
the README's pictures), else into the test's tmp_path, so a test run leaves the tree clean.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from course import gradebook, runner
from course.context import GradingContext
from graders import ASSIGNMENT
from scenarios import sample_class
from tests.support.browser import (
    OUTPUTS,
    PROMPTS,
    SUCCESS,
    jupyter_lab,
    new_page,
    open_manual_grading,
    open_notebook,
    run_all_cells,
    screenshot_dir,
    student_folder,
    validate,
)
from tests.support.course import make_course, nbgrader_ok

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------ JupyterLab


# ------------------------------------------------------------------ the browser


# ------------------------------------------------------------------ the student


MISSING = "build_conv_model() is not written yet (it raises NotImplementedError)"
TRAINED = r"conv: +[\d,]+ parameters, train accuracy 0\.\d{4}, test accuracy 0\.\d{4}"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    course = make_course(tmp_path_factory.mktemp("course"))
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT)
    return course / "release" / ASSIGNMENT


def test_student_runs_all_cells_and_validate_says_success(
    browser, release, tmp_path, training_cache
):
    answered = sample_class.build_submission("passes_all", release.parent.parent)
    folder = student_folder(tmp_path / "student", release, answered)
    # The kernels (Run All, then Validate's) reuse the instructor's training from the read-only
    # cache, with the threads the cache was made with: the same cells, outputs and "Success"
    # in seconds instead of two 1-2 minute trainings. A hit is bit-identical to a real
    # training (tests/test_training_cache.py); tests/test_validate.py trains for real.
    reuse = {
        "NBGRADER_C1W3_TRAINING_CACHE": str(training_cache),
        "TF_NUM_INTRAOP_THREADS": "2",
        "TF_NUM_INTEROP_THREADS": "2",
    }
    with jupyter_lab(folder, tmp_path / "lab", reuse) as lab, new_page(browser) as page:
        open_notebook(page, lab, folder)
        ran = run_all_cells(page)
        outputs = "\n".join(page.locator(OUTPUTS).all_text_contents())
        prompts = page.locator(PROMPTS).all_text_contents()
        assert all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), prompts
        assert "Traceback" not in outputs, outputs[-3000:]
        # the browser's kernel trained the lab's model: Part 5 printed its accuracies
        assert re.search(TRAINED, outputs), outputs[-3000:]
        text, validated = validate(page)
        page.screenshot(path=screenshot_dir(tmp_path) / "student_validate_success.png")
        print(f"run all cells: {ran:.0f} s, validate: {validated:.0f} s")
        assert page.locator(".nbgrader-SuccessDialog").count() == 1, text
        assert SUCCESS in text, text
        assert "Timeout" not in text and "Interrupt" not in text, text


def test_student_validate_names_what_is_missing_in_the_release(browser, release, tmp_path):
    folder = student_folder(tmp_path / "student", release)
    with jupyter_lab(folder, tmp_path / "lab") as lab, new_page(browser) as page:
        open_notebook(page, lab, folder)
        ran = run_all_cells(page)
        # The kernel skips the cells queued after the first error: Part 3's check.
        outputs = "\n".join(page.locator(OUTPUTS).all_text_contents())
        assert MISSING in outputs, outputs[-3000:]
        text, validated = validate(page)
        page.screenshot(path=screenshot_dir(tmp_path) / "student_validate_missing.png")
        print(f"run all cells: {ran:.0f} s, validate: {validated:.0f} s")
        assert page.locator(".nbgrader-ErrorDialog .validation-failed").count() == 1, text
        assert SUCCESS not in text, text
        assert "The following cell failed:" in text, text
        assert MISSING in text, text
        for secret in ("BEGIN HIDDEN TESTS", "graders.hidden"):
            assert secret not in text, secret


# ------------------------------------------------------------------ the TA

SCORE = 7
COMMENT = "Clear on weight sharing; add why shifts cannot explain the gain on centred images."


def _saved(api: str):
    """A formgrader save: the PUT its Backbone model sends to /formgrader/api/..."""
    return lambda response: api in response.url and response.request.method == "PUT"


def _feedback_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_ta_grades_the_explanation_in_formgrader(browser, tmp_path):
    (tmp_path / "course").mkdir()
    course = make_course(tmp_path / "course")
    url = gradebook.default_url(course)
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT, db_url=url)
    sample_class.write_class(course, ["build_raises"], release_root=course)
    run = runner.grade_student(GradingContext.of(course, db_url=url), "build_raises")
    assert run.ok, run.reason
    shots = screenshot_dir(tmp_path)

    with jupyter_lab(course, tmp_path / "lab") as lab, new_page(browser) as page:
        # Typed before the page is ready, a score is overwritten or never saved.
        open_manual_grading(page, lab)
        score = page.locator("input.score#explain_accuracy_gain")
        score.fill(str(SCORE))
        with page.expect_response(_saved("/api/grade/"), timeout=60_000) as saved:
            score.press("Tab")  # the change event: formgrader saves the score
        assert saved.value.ok, saved.value.status
        comment = page.locator("textarea#explain_accuracy_gain-comment")
        comment.fill(COMMENT)
        with page.expect_response(_saved("/api/comment/"), timeout=60_000) as saved:
            comment.press("Tab")
        assert saved.value.ok, saved.value.status
        # The comment in the middle: the rubric's end above it, the student's answer below.
        comment.evaluate("el => el.scrollIntoView({block: 'center'})")
        page.screenshot(path=shots / "ta_formgrader_manual_grade.png")

    with gradebook.open_gradebook(course, url) as gb:
        grade = gb.find_grade("explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, "build_raises")
        assert grade.manual_score == SCORE
        comment_row = gb.find_comment(
            "explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, "build_raises"
        )
        assert comment_row.manual_comment == COMMENT

    nbgrader_ok(course, "generate_feedback", ASSIGNMENT, "--force", db_url=url)
    feedback = course / "feedback" / "build_raises" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    text = _feedback_text(feedback)
    assert COMMENT in text
    assert f"Task (Score: {SCORE:.1f} / 10.0)" in text, text[:3000]

    with new_page(browser) as page:
        page.goto(feedback.as_uri())
        # what a student sees first: the box with the points by part and what to fix
        heading = page.get_by_role("heading", name="What to fix first")
        assert heading.is_visible()
        assert heading.bounding_box()["y"] < page.viewport_size["height"]  # above the fold
        page.screenshot(path=shots / "student_what_to_fix.png")
        page.locator("a[name='comment-explain_accuracy_gain']").scroll_into_view_if_needed()
        seen = page.locator("body").inner_text()
        assert COMMENT in seen and f"Score: {SCORE:.1f} / 10.0" in seen
        page.screenshot(path=shots / "ta_feedback.png")


def test_the_ta_summary_starts_with_act_first(browser, tmp_path):
    """The TA summary (Markdown, as course.summary renders it: the stored golden page that
    tests/test_summary.py compares with the renderer on every run), shown as a Markdown viewer
    shows it: "Act first" and its lines above the fold, before the class view."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    summary = Path(__file__).parent / "fixtures" / "golden" / "ta_summary.md"
    page_file = tmp_path / "ta_summary.html"
    page_file.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>TA summary</title>"
        "<style>body{font-family:sans-serif;max-width:62em;margin:1em auto;line-height:1.4}"
        "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #999;"
        "padding:2px 6px}</style></head><body><main>"
        + markdown2html_mistune(summary.read_text())
        + "</main></body></html>"
    )
    with new_page(browser) as page:
        page.goto(page_file.as_uri())
        act = page.get_by_role("heading", name="Act first")
        assert act.is_visible()
        first = page.locator("h2:text-is('Act first') + ul > li").first
        assert "not graded" in first.inner_text()
        assert first.bounding_box()["y"] < page.viewport_size["height"]  # above the fold
        page.screenshot(path=screenshot_dir(tmp_path) / "ta_summary.png")
