"""Debian's Chromium through Playwright, and JupyterLab for it to drive (the browser tests)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from course.layout import COURSE_ROOT
from graders import ASSIGNMENT
from tests.servers import free_port, stop, wait_until_served

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
        stop(proc, grace_s=30)


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


def kernel_idle(lab: Lab) -> bool:
    with urllib.request.urlopen(lab.url("api/kernels"), timeout=10) as reply:
        kernels = json.load(reply)
    return len(kernels) == 1 and kernels[0]["execution_state"] == "idle"


def open_notebook(page, lab: Lab, folder: Path) -> None:
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
    while not (kernel_idle(lab) and page.locator(f"{INDICATOR}[data-status='idle']").count()):
        assert time.monotonic() < deadline, f"the kernel never became idle\n{lab.log_tail()}"
        time.sleep(0.5)


def run_all_cells(page) -> float:
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


def validate(page) -> tuple[str, float]:
    """Press nbgrader's Validate button; returns the text of the dialog it opens."""
    start = time.monotonic()
    page.locator("jp-button.validate-button").click()
    dialog = page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT_S * 1000)
    return dialog.inner_text(), time.monotonic() - start


def student_folder(root: Path, release: Path, notebook=None) -> Path:
    """What the student downloaded: the released files only (notebook maybe answered)."""
    shutil.copytree(release, root)
    if notebook is not None:
        nbformat.write(notebook, root / NOTEBOOK)
    return root


# The manual grading page is ready when its grades and comments are fetched and bound to the
# inputs, and MathJax (from a CDN) is done: when it finishes it moves the focus. Offline,
# MathJax never loads (the page logs "MathJax is not defined"; saving works all the same).
FORMGRADER_READY = """() => document.readyState === "complete" && window.formgrader
    && formgrader.grades && formgrader.grades.loaded
    && formgrader.comments && formgrader.comments.loaded
    && (typeof MathJax === "undefined" || MathJax.loaded === true)"""


def open_manual_grading(page, lab) -> None:
    """formgrader -> Manual Grading -> the assignment -> its notebook -> the first submission,
    waiting until the page can take a score."""
    page.goto(lab.url("formgrader"))
    page.locator("a", has_text=re.compile(r"^\s*Manual Grading\s*$")).first.click()
    page.locator(f"a:text-is('{ASSIGNMENT}')").click()  # the assignment
    page.locator(f"a:text-is('{ASSIGNMENT}')").click()  # its notebook
    page.locator("a:text-is('Submission #1')").click()
    page.wait_for_function(FORMGRADER_READY, timeout=120_000)
