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
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from course import gradebook, runner
from course.context import GradingContext
from course.layout import COURSE_ROOT
from graders import ASSIGNMENT
from scenarios import sample_class
from tests.conftest import make_course, nbgrader_ok
from tests.servers import free_port, wait_until_served

pytestmark = pytest.mark.slow

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SUCCESS = "Success! Your notebook passes all the tests."
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous ceilings, not expectations: one real training takes 1-2 min on 2 cores.
RUN_ALL_TIMEOUT_S = 900
VALIDATE_TIMEOUT_S = 900


def screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("C1W3_SCREENSHOTS") == "1":
        folder = COURSE_ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path


# ------------------------------------------------------------------ JupyterLab


@dataclass
class Lab:
    base: str
    token: str
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base}/{path}?token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def quiet_lab_settings(settings: Path) -> None:
    """No "receive Jupyter news?" toast over the page (and no network look-ups)."""
    path = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@contextmanager
def jupyter_lab(folder: Path, state: Path, extra_env: dict[str, str] | None = None):
    """`jupyter lab` from this venv, started in `folder` (its cwd and root), with its own
    config, runtime and settings folders under `state`; stopped (and its kernels) at exit."""
    state.mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("C1W3_", "NBGRADER", "JUPYTER"))
    }
    env.update(extra_env or {})
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ]:
        env[var] = str(state / sub)
    quiet_lab_settings(state / "settings")
    token, port = secrets.token_hex(16), free_port()
    log = state / "jupyter.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(bindir / "jupyter"),
                "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={folder}",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, log)
    try:
        wait_until_served(proc, lab.url("api/status"), "jupyter lab", 180, lab.log_tail)
        yield lab
    finally:
        # SIGTERM: the server shuts its kernels down, then exits.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


# ------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required (installed by .ci/run and `make setup`)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


# ------------------------------------------------------------------ the student

# Code-cell prompts: "[ ]:" not run, "[*]:" queued or running, "[12]:" done.
PROMPTS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt"
OUTPUTS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output"
INDICATOR = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator"
# The highest execution count among the prompts ("[12]:" -> 12; "[ ]:" and "[*]:" -> 0).
LAST_COUNT = """(sel) => Math.max(0, ...[...document.querySelectorAll(sel)].map(
    (p) => parseInt((p.textContent.match(/\\d+/) || ["0"])[0])))"""
# Run All is over: the kernel idle, no cell queued or running ("[*]"), and a cell ran since
# `before` (the counts then): JupyterLab queues every cell at once, so no gap between two
# cells looks finished, and a notebook that ran before does not look finished at the start.
RUN_ALL_DONE = """([sel, ind, before]) => {
    const prompts = [...document.querySelectorAll(sel)].map((p) => p.textContent);
    const counts = prompts.map((p) => parseInt((p.match(/\\d+/) || ["0"])[0]));
    const indicator = document.querySelector(ind);
    const idle = indicator && indicator.getAttribute("data-status") === "idle";
    return idle && !prompts.some((p) => p.includes("*")) && Math.max(0, ...counts) > before;
}"""


def _kernel_idle(lab: Lab) -> bool:
    with urllib.request.urlopen(lab.url("api/kernels"), timeout=10) as reply:
        kernels = json.load(reply)
    return len(kernels) == 1 and kernels[0]["execution_state"] == "idle"


def _open_notebook(page, lab: Lab, folder: Path) -> None:
    """Open the notebook; return once all its cells are shown and its kernel is idle."""
    nb = nbformat.read(folder / NOTEBOOK, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    page.goto(lab.url(f"lab/tree/{NOTEBOOK}"))
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length === n",
        arg=[PROMPTS, code_cells],
        timeout=120_000,
    )
    # Before its session starts the page shows "idle" too: the server must agree.
    deadline = time.monotonic() + 120
    while not (_kernel_idle(lab) and page.locator(f"{INDICATOR}[data-status='idle']").count()):
        assert time.monotonic() < deadline, f"the kernel never became idle\n{lab.log_tail()}"
        time.sleep(0.5)


def _run_all_cells(page) -> float:
    """Run → Run All Cells, as a student does; returns once every queued cell finished (or
    the first error stopped the run, as JupyterLab does) and the kernel is idle."""
    start = time.monotonic()
    before = page.evaluate(LAST_COUNT, PROMPTS)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator("#jp-mainmenu-run li[data-command='runmenu:run-all']").click()
    page.wait_for_function(
        RUN_ALL_DONE, arg=[PROMPTS, INDICATOR, before], timeout=RUN_ALL_TIMEOUT_S * 1000
    )
    return time.monotonic() - start


def _validate(page) -> tuple[str, float]:
    """Press nbgrader's Validate button; returns the text of the dialog it opens."""
    start = time.monotonic()
    page.locator("jp-button.validate-button").click()
    dialog = page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT_S * 1000)
    return dialog.inner_text(), time.monotonic() - start


MISSING = "build_conv_model() is not written yet (it raises NotImplementedError)"
TRAINED = r"conv: +[\d,]+ parameters, train accuracy 0\.\d{4}, test accuracy 0\.\d{4}"


def _student_folder(root: Path, release: Path, notebook=None) -> Path:
    """What the student downloaded: the released files only (notebook maybe answered)."""
    shutil.copytree(release, root)
    if notebook is not None:
        nbformat.write(notebook, root / NOTEBOOK)
    return root


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    course = make_course(tmp_path_factory.mktemp("course"))
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT)
    return course / "release" / ASSIGNMENT


def test_student_runs_all_cells_and_validate_says_success(
    browser, release, tmp_path, training_cache
):
    answered = sample_class.build_submission("passes_all", release.parent.parent)
    folder = _student_folder(tmp_path / "student", release, answered)
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
        _open_notebook(page, lab, folder)
        ran = _run_all_cells(page)
        outputs = "\n".join(page.locator(OUTPUTS).all_text_contents())
        prompts = page.locator(PROMPTS).all_text_contents()
        assert all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), prompts
        assert "Traceback" not in outputs, outputs[-3000:]
        # the browser's kernel trained the lab's model: Part 5 printed its accuracies
        assert re.search(TRAINED, outputs), outputs[-3000:]
        text, validated = _validate(page)
        page.screenshot(path=screenshot_dir(tmp_path) / "student_validate_success.png")
        print(f"run all cells: {ran:.0f} s, validate: {validated:.0f} s")
        assert page.locator(".nbgrader-SuccessDialog").count() == 1, text
        assert SUCCESS in text, text
        assert "Timeout" not in text and "Interrupt" not in text, text


def test_student_validate_names_what_is_missing_in_the_release(browser, release, tmp_path):
    folder = _student_folder(tmp_path / "student", release)
    with jupyter_lab(folder, tmp_path / "lab") as lab, new_page(browser) as page:
        _open_notebook(page, lab, folder)
        ran = _run_all_cells(page)
        # The kernel skips the cells queued after the first error: Part 3's check.
        outputs = "\n".join(page.locator(OUTPUTS).all_text_contents())
        assert MISSING in outputs, outputs[-3000:]
        text, validated = _validate(page)
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


# The manual grading page is ready when its grades and comments are fetched and bound to the
# inputs, and MathJax (from a CDN) is done: when it finishes it moves the focus. Offline,
# MathJax never loads (the page logs "MathJax is not defined"; saving works all the same).
FORMGRADER_READY = """() => document.readyState === "complete" && window.formgrader
    && formgrader.grades && formgrader.grades.loaded
    && formgrader.comments && formgrader.comments.loaded
    && (typeof MathJax === "undefined" || MathJax.loaded === true)"""


def _saved(api: str):
    """A formgrader save: the PUT its Backbone model sends to /formgrader/api/..."""
    return lambda response: api in response.url and response.request.method == "PUT"


def _feedback_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def open_manual_grading(page, lab) -> None:
    """formgrader -> Manual Grading -> the assignment -> its notebook -> the first submission,
    waiting until the page can take a score."""
    page.goto(lab.url("formgrader"))
    page.locator("a", has_text=re.compile(r"^\s*Manual Grading\s*$")).first.click()
    page.locator(f"a:text-is('{ASSIGNMENT}')").click()  # the assignment
    page.locator(f"a:text-is('{ASSIGNMENT}')").click()  # its notebook
    page.locator("a:text-is('Submission #1')").click()
    page.wait_for_function(FORMGRADER_READY, timeout=120_000)


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
