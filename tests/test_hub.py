"""A real JupyterHub, started inside the test, with nbgrader's exchange behind it:

hub         JupyterHub 6 on 127.0.0.1 (free ports; its database, cookie secret and proxy pid
            file in tmp), the Python configurable-http-proxy, the built-in shared-password
            authenticator (users ada and bob, one test password) and SimpleLocalProcessSpawner
            (each user's home is tmp/home/<user>; every server runs this venv's
            jupyterhub-singleuser, so JupyterLab has nbgrader's extensions)
instructor  ``make release`` (generate_assignment), ``make release-exchange``
ada, bob    log in on the hub's login page in Chromium, JupyterLab opens at /user/<name>/lab;
            Nbgrader -> Assignment List: Fetch, then Submit (ada her answers, bob the release)
instructor  ``make collect-exchange``; then a feedback page for ada only (a stand-in written
            by the test: grading is tests/test_exchange.py's) and ``make release-feedback``
ada, bob    ada's Assignments tab offers her feedback and fetches it, bob's offers none

The users' servers share the test's Unix user (SimpleLocalProcessSpawner, as root), and
nbgrader 0.9.6 files a submission under the Unix user's name (``$JUPYTERHUB_USER`` only
when that name is ``jovyan``): each home's ~/.jupyter/nbgrader_config.py names its student
id, as in tests/test_exchange.py. On a hub with a Unix user per student that line is not
needed (docs/jupyterhub.md). Screenshots: C1W3_SCREENSHOTS=1 (test_browser.py).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from course import exchange, gradebook, runner
from course.context import GradingContext
from graders import ASSIGNMENT, SUPPORT_FILES
from tests import servers
from tests.support import browser as browser_support
from tests.support.browser import quiet_lab_settings, screenshot_dir
from tests.support.course import make_course
from tests.support.exchange import COURSE_ID, NOTEBOOK, Student, clean_env, instructor, solved

pytestmark = pytest.mark.slow
chromium = browser_support.browser  # Debian's Chromium through Playwright, as in test_browser.py
BIN = servers.BIN
USERS = ("ada", "bob")
PASSWORD = "c1w3-hub-test-password"  # the shared-password authenticator's, this test only
STEP_MS = 60_000  # ceilings for one page step, not expectations
SPAWN_MS = 120_000
HUB_START_S = 120
# What docs/jupyterhub.md has the administrator switch off for students.
INSTRUCTOR_LAB_PLUGINS = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
]
INSTRUCTOR_SERVER = [
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
]
HUB_CONFIG = (
    servers.HUB_BASE_CONFIG
    + """\
# A test password for the named users only (DummyAuthenticator's password is deprecated
# since JupyterHub 5.3 in favour of this built-in authenticator).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = {users!r}
# Servers as local processes of the hub's Unix user, homes under the test's tmp folder.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + "/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
"""
)


# ------------------------------------------------------------------ the hub


@dataclass
class Hub:
    url: str  # the proxy's public URL: every page goes through it
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def jupyterhub(folder: Path, homes: Path) -> Iterator[Hub]:
    """`jupyterhub` with two users, until it answers through its proxy (tests/servers.py)."""
    folder.mkdir(parents=True)
    values = servers.hub_ports(folder)
    config = HUB_CONFIG.format(
        **values,
        password=PASSWORD,
        users=set(USERS),
        homes=str(homes),
        singleuser=str(BIN / "jupyterhub-singleuser"),
        args=["--allow-root"] if os.geteuid() == 0 else [],
    )
    url = f"http://127.0.0.1:{values['port']}"
    env = clean_env(HOME=str(folder))
    with servers.jupyterhub(folder, config, url, env, HUB_START_S) as log:
        yield Hub(url, log)


# ------------------------------------------------------------------ a user in the browser


def log_in(page, hub: Hub, user: str, password: str = PASSWORD, submit: bool = True) -> None:
    """The hub's login page: name, password, Sign in."""
    page.goto(f"{hub.url}/hub/login")
    page.locator("#username_input").fill(user)
    page.locator("#password_input").fill(password)
    if submit:
        page.locator("#login_submit").click()


def open_assignments(page, user: str) -> list[str]:
    """JupyterLab at /user/<user>/lab (through the proxy), Nbgrader -> Assignment List;
    returns the Nbgrader menu's items."""
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=SPAWN_MS)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
    items = page.locator(".lm-Menu-content .lm-Menu-itemLabel")
    items.first.wait_for()
    shown = [text for text in items.all_inner_texts() if text.strip()]  # not the hidden ones
    items.filter(has_text="Assignment List").click()
    return shown


def submitted_items(page):
    return page.locator("#submitted_assignments_list .nested_list_item")


def fetch_and_submit(page, student: Student, notebook=None) -> str:
    """Fetch, (the student's answers written into the fetched notebook), Submit; returns what
    the Submitted list then shows."""
    released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
    released.locator("button", has_text="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT)
    fetched.first.wait_for()
    if notebook is not None:
        student.write(notebook)
    fetched.first.locator("button", has_text="Submit").click()
    submitted_items(page).first.wait_for()
    return submitted_items(page).first.inner_text()


# ------------------------------------------------------------------ the run


@dataclass
class HubRun:
    course: Path
    exchange: Path
    students: dict[str, Student]
    release: Path
    out: dict[str, str] = field(default_factory=dict)  # the instructor's commands' output
    shown: dict[str, str] = field(default_factory=dict)  # what the pages showed, by step
    urls: dict[str, str] = field(default_factory=dict)
    menus: dict[str, list[str]] = field(default_factory=dict)  # JupyterLab's Nbgrader menu
    status: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    def exchange_submissions(self, student: str) -> list[Path]:
        return sorted(self.inbound.glob(f"{student}+{ASSIGNMENT}+*"))

    def submitted(self, student: str) -> Path:
        return self.course / "submitted" / student / ASSIGNMENT


def feedback_stand_in(course: Path, student: str) -> Path:
    """What `make grade` leaves for a student, without the grading: feedback/<student>/ with
    the submission's timestamp and secret and one HTML page (nbgrader release_feedback reads
    nothing else)."""
    submitted = course / "submitted" / student / ASSIGNMENT
    folder = course / "feedback" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name in ("timestamp.txt", "submission_secret.txt"):
        (folder / name).write_bytes((submitted / name).read_bytes())
    page = folder / f"{ASSIGNMENT}.html"
    page.write_text(f"<html><body><h1>{ASSIGNMENT}: feedback for {student}</h1></body></html>")
    return page


def student_home(homes: Path, user: str, exchange_root: Path) -> Student:
    """The home the spawner gives `user`: nbgrader's config (the exchange, the course id, the
    student id: test_exchange.Student), and in ~/.jupyter what docs/jupyterhub.md has the
    administrator switch off for students (there for all users at once, with --sys-prefix;
    here per user, the venv being the tests')."""
    student = Student.make(homes, user, exchange_root)
    jupyter = student.home / ".jupyter"
    quiet_lab_settings(jupyter / "lab" / "user-settings")  # no "Jupyter news?" toast
    (jupyter / "labconfig").mkdir()
    (jupyter / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": dict.fromkeys(INSTRUCTOR_LAB_PLUGINS, True)})
    )
    (jupyter / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": dict.fromkeys(INSTRUCTOR_SERVER, False)}})
    )
    return student


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory, chromium) -> HubRun:
    root = tmp_path_factory.mktemp("hub")
    shots = screenshot_dir(root)
    (root / "course").mkdir()
    course = make_course(root / "course")
    exchange_root = root / "exchange"
    where = ["--course", str(course), "--exchange", str(exchange_root)]
    homes = root / "home"
    students = {user: student_home(homes, user, exchange_root) for user in USERS}
    run = HubRun(course, exchange_root, students, course / "release" / ASSIGNMENT)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        run.seconds[name] = round(now - clock, 1)
        clock = now

    # `make release`, then `make release-exchange EXCHANGE=...`
    own = GradingContext.of(course, db_url=gradebook.default_url(course))
    done = runner.nbgrader(own, "generate_assignment", ASSIGNMENT, "--log-level=WARN")
    assert done.returncode == 0, done.stdout + done.stderr
    run.out["release"] = instructor(course, "exchange", "release", *where)
    lap("release")

    with jupyterhub(root / "jupyterhub", homes) as hub, ExitStack() as stack:
        lap("hub up")
        pages = {}
        for user in USERS:  # a browser profile each: their own cookies
            context = chromium.new_context(viewport={"width": 1400, "height": 1000})
            stack.callback(context.close)
            context.set_default_timeout(STEP_MS)
            pages[user] = context.new_page()
        ada, bob = pages["ada"], pages["bob"]

        log_in(ada, hub, "ada", submit=False)
        ada.screenshot(path=shots / "hub_login.png")
        ada.locator("#login_submit").click()
        run.menus["ada"] = open_assignments(ada, "ada")
        run.urls["ada"] = ada.url
        run.shown["ada submitted"] = fetch_and_submit(ada, students["ada"], solved(course, "ada"))
        lap("ada: log in, fetch, submit")

        log_in(bob, hub, "bob", password="not-the-password")
        bob.locator(".login_error").wait_for()
        run.shown["wrong password"] = bob.locator(".login_error").inner_text()
        log_in(bob, hub, "bob")
        run.menus["bob"] = open_assignments(bob, "bob")
        run.urls["bob"] = bob.url
        run.shown["bob submitted"] = fetch_and_submit(bob, students["bob"])
        lap("bob: log in, fetch, submit")

        # bob, logged in, opens ada's JupyterLab: the hub's authorization refuses him.
        probe = bob.context.new_page()
        reply = probe.goto(f"{hub.url}/user/ada/lab")
        run.status["bob opens ada's lab"] = reply.status
        run.urls["bob opens ada's lab"] = probe.url
        probe.close()
        formgrader = bob.context.request.get(f"{hub.url}/user/bob/formgrader")
        run.status["bob's formgrader"] = formgrader.status

        run.out["collect"] = instructor(course, "exchange", "collect", *where)
        feedback_stand_in(course, "ada")
        run.out["feedback"] = instructor(course, "exchange", "feedback", *where)
        lap("collect, release feedback for ada")

        for user, page in pages.items():
            page.reload()
            open_assignments(page, user)
            submitted_items(page).first.wait_for()
            run.shown[f"{user} before fetching feedback"] = submitted_items(page).first.inner_text()
        ada.locator("#submitted_assignments_list button", has_text="Fetch Feedback").click()
        submitted_items(ada).first.locator("a", has_text="view feedback").wait_for()
        run.shown["ada after fetching feedback"] = submitted_items(ada).first.inner_text()
        ada.screenshot(path=shots / "hub_assignments.png")
        lap("ada fetches her feedback")
    lap("hub stopped")
    print("hub round trip:", run.seconds)
    return run


# ------------------------------------------------------------------ the checks


def test_each_user_logged_in_to_their_own_server_through_the_hub(hub_run):
    assert "Invalid username or password" in hub_run.shown["wrong password"]
    for user in USERS:
        assert re.match(rf"http://127\.0\.0\.1:\d+/user/{user}/lab", hub_run.urls[user])
    assert hub_run.status["bob opens ada's lab"] == 403, hub_run.urls["bob opens ada's lab"]
    assert "/hub/api/oauth2/authorize" in hub_run.urls["bob opens ada's lab"]


def test_students_get_the_assignment_list_without_the_instructor_s_extensions(hub_run):
    assert hub_run.menus == {user: ["Assignment List"] for user in USERS}
    assert hub_run.status["bob's formgrader"] == 404


def test_each_home_holds_only_its_own_fetched_copy(hub_run):
    for user, student in hub_run.students.items():
        assert sorted(p.name for p in student.home.iterdir() if not p.name.startswith(".")) == [
            ASSIGNMENT
        ]
        for name in (*SUPPORT_FILES, "nbgrader_config.py"):
            assert (student.folder / name).read_bytes() == (hub_run.release / name).read_bytes()
        cache = student.home / ".local/share/jupyter/nbgrader_cache" / COURSE_ID
        assert [p.name.split("+")[0] for p in cache.iterdir()] == [user]
    bob = hub_run.students["bob"]
    assert (bob.folder / NOTEBOOK).read_bytes() == (hub_run.release / NOTEBOOK).read_bytes()


def test_each_submission_reached_the_exchange_and_was_collected_under_its_user(hub_run):
    for user, student in hub_run.students.items():
        (sent,) = hub_run.exchange_submissions(user)
        stamp = (sent / "timestamp.txt").read_text()
        assert stamp in hub_run.shown[f"{user} submitted"]  # the Assignments tab showed it
        submitted = hub_run.submitted(user)
        assert (submitted / "timestamp.txt").read_text() == stamp
        assert exchange.read_timestamp(submitted) == exchange.read_timestamp(sent)
        sent_notebook = (sent / NOTEBOOK).read_bytes()
        assert (submitted / NOTEBOOK).read_bytes() == sent_notebook
        assert sent_notebook == (student.folder / NOTEBOOK).read_bytes()
    assert sorted(p.name for p in (hub_run.course / "submitted").iterdir()) == list(USERS)
    ada = (hub_run.submitted("ada") / NOTEBOOK).read_text()
    assert "STUDENT_ID = 'ada'" in ada and "raise NotImplementedError()" not in ada
    lines = hub_run.out["collect"]
    assert "ada  1 submission " in lines and "bob  1 submission " in lines


def test_only_ada_is_offered_and_fetches_feedback(hub_run):
    assert "skipped bob: no feedback yet" in hub_run.out["feedback"]
    assert "released feedback to" in hub_run.out["feedback"]
    assert "(feedback available to fetch)" in hub_run.shown["ada before fetching feedback"]
    assert "feedback" not in hub_run.shown["bob before fetching feedback"]
    assert "view feedback" in hub_run.shown["ada after fetching feedback"]
    ada, bob = hub_run.students["ada"], hub_run.students["bob"]
    (page,) = ada.feedback_pages()
    assert page.parent.name == (hub_run.submitted("ada") / "timestamp.txt").read_text()
    released = hub_run.course / "feedback" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert page.read_bytes() == released.read_bytes()
    assert not (bob.folder / "feedback").exists()
