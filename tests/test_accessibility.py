"""Accessibility of the pages students and TAs use, audited with axe-core (axe-playwright-python)
in Debian's Chromium: the notebook in JupyterLab after *Run All Cells*, the feedback page, and
formgrader's manual grading page, all for one graded student (``passes_all``).

Every violating element is placed: **ours** if it is the notebook's own rendered content (its
markdown cells and outputs) and the rule is about content (a figure's text alternative, a form
control's label, heading order), else **upstream** (JupyterLab's, nbgrader's and nbconvert's own
markup and styling: colours, link styles and scrolling boxes come from their templates even
around our content). Serious and critical violations of ours must be exactly ``KNOWN``, each
with its fix in docs/accessibility.md: a new one fails, and so does one that was fixed until it
is struck from ``KNOWN``. Upstream ones are counted and printed, never asserted.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from course import gradebook, runner
from course.context import GradingContext
from graders import ASSIGNMENT
from scenarios import sample_class
from tests.support import browser as browser_support
from tests.support.browser import (
    jupyter_lab,
    new_page,
    open_notebook,
    run_all_cells,
    student_folder,
)
from tests.support.course import make_warm_course, nbgrader_ok

pytestmark = pytest.mark.slow
chromium = browser_support.browser  # Debian's Chromium through Playwright, as in test_browser.py

# The notebook's own rendered content: JupyterLab's rendered markdown and outputs, and the same
# in nbconvert's HTML (the feedback page, formgrader).
CONTENT = ".jp-RenderedMarkdown, .jp-OutputArea-output, .text_cell_render, .output_area"
# Decided by the page's stylesheet, wherever the element is.
TEMPLATE_RULES = {"color-contrast", "link-in-text-block", "scrollable-region-focusable"}
SEVERE = {"serious", "critical"}

# (page, rule id): elements. Ours, to fix in the source notebook (docs/accessibility.md).
KNOWN: dict[tuple[str, str], int] = {}  # none left (the figures' alt text, a plain list in Part 7)
FIGURES = 8  # the graded notebook's figures, each shown by c1w3_checks.show_figure

PLACE = """([targets, content]) => targets.map((t) => {
    const el = t.length === 1 ? document.querySelector(t[0]) : null;
    return el === null ? "page" : el.closest(content) ? "content" : "page";
})"""


@dataclass(frozen=True)
class Finding:
    page: str
    rule: str
    impact: str
    ours: bool
    elements: int
    example: str

    def line(self) -> str:
        owner = "ours" if self.ours else "upstream"
        where = f"{self.page:<10} {owner:<8} {self.impact:<8} {self.rule:<28}"
        return f"{where} {self.elements:>4}  {self.example}"


def audit(page, name: str) -> list[Finding]:
    """axe-core on the page as it is now; one Finding per (rule, ours or upstream)."""
    from axe_playwright_python.sync_playwright import Axe

    findings = []
    for violation in Axe().run(page).response["violations"]:
        nodes = violation["nodes"]
        places = page.evaluate(PLACE, [[n["target"] for n in nodes], CONTENT])
        ours = [p == "content" and violation["id"] not in TEMPLATE_RULES for p in places]
        for side in (True, False):
            picked = [n for n, o in zip(nodes, ours, strict=True) if o == side]
            if picked:
                example = re.sub(r"\s+", " ", picked[0]["html"])[:90]
                findings.append(
                    Finding(name, violation["id"], violation["impact"], side, len(picked), example)
                )
    return findings


@dataclass
class Graded:
    course: Path
    url: str


@pytest.fixture(scope="module")
def graded(tmp_path_factory, training_cache) -> Graded:
    """One correct submission, graded (with the warm training cache) and its feedback made."""
    course = make_warm_course(tmp_path_factory.mktemp("a11y_course"), training_cache)
    url = gradebook.default_url(course)
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT, db_url=url)
    sample_class.write_class(course, ["passes_all"], release_root=course)
    run = runner.grade_student(GradingContext.of(course, db_url=url), "passes_all")
    assert run.ok, run.reason
    nbgrader_ok(course, "generate_feedback", ASSIGNMENT, db_url=url)
    return Graded(course, url)


@pytest.fixture(scope="module")
def findings(graded, chromium, training_cache, tmp_path_factory) -> list[Finding]:
    root = tmp_path_factory.mktemp("a11y")
    found: list[Finding] = []
    release = graded.course / "release" / ASSIGNMENT
    answered = sample_class.build_submission("passes_all", graded.course)
    folder = student_folder(root / "student", release, answered)
    reuse = {  # the instructor's training from the cache, as in test_browser.py
        "NBGRADER_C1W3_TRAINING_CACHE": str(training_cache),
        "TF_NUM_INTRAOP_THREADS": "2",
        "TF_NUM_INTEROP_THREADS": "2",
    }
    with jupyter_lab(folder, root / "lab", reuse) as lab, new_page(chromium) as page:
        open_notebook(page, lab, folder)
        run_all_cells(page)
        found += audit(page, "notebook")

    feedback = graded.course / "feedback" / "passes_all" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    with new_page(chromium) as page:
        page.goto(feedback.as_uri())
        found += audit(page, "feedback")

    with jupyter_lab(graded.course, root / "formgrader") as lab, new_page(chromium) as page:
        browser_support.open_manual_grading(page, lab)
        found += audit(page, "formgrader")
    print("\n".join(f.line() for f in found))
    return found


def test_every_page_was_audited(findings):
    assert {f.page for f in findings} == {"notebook", "feedback", "formgrader"}


def test_serious_violations_of_ours_are_exactly_the_known_ones(findings):
    ours = Counter()
    for f in findings:
        if f.ours and f.impact in SEVERE:
            ours[f.page, f.rule] += f.elements
    new = {k: v for k, v in ours.items() if KNOWN.get(k) != v}
    fixed = {k: v for k, v in KNOWN.items() if k not in ours}
    assert not new, f"new or changed (page, rule): elements {new}; see docs/accessibility.md"
    assert not fixed, f"fixed, strike from KNOWN and docs/accessibility.md: {fixed}"


def test_every_figure_says_what_it_shows_in_the_feedback_page(graded):
    """nbconvert writes a placeholder alt where an output has none (jupyter/accessibility#7): axe
    counts it as a text alternative, a reader hears nothing useful. Each figure's own text, from
    the student's numbers, must be there instead."""
    feedback = graded.course / "feedback" / "passes_all" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    found = re.findall(r'<img\b[^>]*\balt="([^"]*)"', feedback.read_text())
    alts = [html.unescape(a) for a in found]
    assert len(alts) == FIGURES, alts
    assert "No description has been provided for this image" not in alts
    assert all(len(a) > 60 for a in alts), alts
    curves = next(a for a in alts if a.startswith("Two line charts"))
    assert re.search(r"conv \d\.\d{3}", curves), curves  # the run's own test accuracy
