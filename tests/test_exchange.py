"""nbgrader's exchange round trip, as on a JupyterHub, with nbgrader's own commands and a real
exchange folder (``c.Exchange.root`` under the test's tmp folder):

instructor  ``make release`` (generate_assignment), ``make release-exchange``
ada         fetch_assignment, answers, submit (on time)
bob         fetch_assignment, submit an unanswered notebook
instructor  ``make due``: the due date is now
bob         answers, submit again (late)
instructor  ``make collect-exchange``, ``make grade`` (it trains: the session's warm training
            cache makes it ~15 s a student), ``make release-feedback``
ada, bob    fetch_feedback
cyd, ada    the same in JupyterLab's Assignments tab, in Chromium: cyd fetches and submits, ada
            fetches her feedback and opens it (screenshots: C1W3_SCREENSHOTS=1, test_browser.py)

Each student has their own HOME, nbgrader config and nbgrader cache, as on a hub; here they
share the Unix user, so each config names its student id (on a hub nbgrader reads it from the
user name). The course's late policy is set once in its nbgrader_config.py: a late submission
scores 0 (nbgrader's ``LateSubmissionPlugin``, ``penalty_method = "zero"``).
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest

from course import exchange, gradebook, runner
from course.context import GradingContext
from course.layout import Layout
from graders import ASSIGNMENT, SUPPORT_FILES
from scenarios.notebook_edits import answer
from tests.support import browser as browser_support
from tests.support.browser import jupyter_lab, new_page, screenshot_dir
from tests.support.course import make_warm_course
from tests.support.exchange import (
    COURSE_ID,
    COURSE_POLICY,
    NOTEBOOK,
    Student,
    clean_env,
    instructor,
    solved,
)

slow = pytest.mark.slow
chromium = browser_support.browser  # Debian's Chromium through Playwright, as in test_browser.py


@dataclass
class RoundTrip:
    course: Path
    exchange: Path
    ada: Student
    bob: Student
    release: Path
    due: datetime
    out: dict[str, str]  # the instructor's commands' output, by step
    seconds: dict[str, float]

    @property
    def layout(self) -> Layout:
        return Layout(self.course)

    @property
    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    def exchange_submissions(self, student: str) -> list[Path]:
        """The student's submissions in the exchange, oldest first (by their timestamp)."""
        found = self.inbound.glob(f"{student}+{ASSIGNMENT}+*")
        return sorted(found, key=lambda p: exchange.read_timestamp(p))


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory, training_cache) -> RoundTrip:
    root = tmp_path_factory.mktemp("exchange_round_trip")
    (root / "course").mkdir()
    course = make_warm_course(root / "course", training_cache)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(COURSE_POLICY)
    exchange_root = root / "exchange"  # release_assignment creates it, world-writable
    where = ["--course", str(course), "--exchange", str(exchange_root)]
    ada = Student.make(root / "home", "ada", exchange_root)
    bob = Student.make(root / "home", "bob", exchange_root)
    out, seconds = {}, {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    # `make release` then `make release-exchange EXCHANGE=...`
    done = runner.nbgrader(
        GradingContext.of(course), "generate_assignment", ASSIGNMENT, "--log-level=WARN"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out["release"] = instructor(course, "exchange", "release", *where)
    lap("release")

    ada.nbgrader("fetch_assignment", ASSIGNMENT)
    ada.write(solved(course, ada.id))
    ada.nbgrader("submit", ASSIGNMENT)
    bob.nbgrader("fetch_assignment", ASSIGNMENT)
    first = nbformat.read(bob.folder / NOTEBOOK, as_version=4)
    answer(first, "student_id_answer", f"STUDENT_ID = {bob.id!r}")
    bob.write(first)  # his id, no answers yet
    bob.nbgrader("submit", ASSIGNMENT)
    lap("students fetch and submit")

    # `make due DUE=...`: the deadline is bob's first submission, as the exchange stamped it:
    # ada's came before it (on time), bob's next one is stamped after it (late), on any clock.
    inbound = (exchange_root / COURSE_ID / "inbound").glob(f"{bob.id}+{ASSIGNMENT}+*")
    due = max(exchange.read_timestamp(folder) for folder in inbound)
    if due.tzinfo is not None:
        due = due.astimezone(UTC).replace(tzinfo=None)
    out["due"] = instructor(
        course, "exchange", "due", f"{due:%Y-%m-%d %H:%M:%S.%f} UTC", *where[:2]
    )
    bob.write(solved(course, bob.id))
    bob.nbgrader("submit", ASSIGNMENT)
    lap("due date, late resubmission")

    out["collect"] = instructor(course, "exchange", "collect", *where)
    lap("collect")
    out["grade"] = instructor(course, "grade", "--course", str(course))
    lap("grade")
    out["feedback"] = instructor(course, "exchange", "feedback", *where)
    lap("release feedback")
    for student in (ada, bob):
        student.nbgrader("fetch_feedback", ASSIGNMENT)
    lap("students fetch feedback")
    print("exchange round trip:", json.dumps({k: round(v) for k, v in seconds.items()}))
    return RoundTrip(
        course, exchange_root, ada, bob, course / "release" / ASSIGNMENT, due, out, seconds
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------ release and fetch


@slow
def test_release_reaches_the_exchange_with_nbgrader_permissions(round_trip):
    course_dir = round_trip.exchange / COURSE_ID
    outbound = course_dir / "outbound" / ASSIGNMENT
    released = sorted(p.name for p in round_trip.release.iterdir())
    assert sorted(p.name for p in outbound.iterdir()) == released
    assert mode(round_trip.exchange) & 0o777 == 0o777  # everyone may create their course
    assert mode(course_dir / "outbound") == 0o755  # students read, only the instructor writes
    assert mode(round_trip.inbound) == 0o2733  # students write, nobody else lists
    assert mode(course_dir / "feedback") == 0o711  # reachable by name, not listable
    assert f"released {ASSIGNMENT} to {outbound}" in round_trip.out["release"]


@slow
def test_each_student_fetched_the_release_into_their_own_home(round_trip):
    for student in (round_trip.ada, round_trip.bob):
        for name in (*SUPPORT_FILES, "nbgrader_config.py"):
            assert (student.folder / name).read_bytes() == (round_trip.release / name).read_bytes()
        assert sorted(p.name for p in student.home.iterdir()) == [".jupyter", ".local", ASSIGNMENT]


# ------------------------------------------------------------------ submit, due date, collect


@slow
def test_every_submission_is_in_the_exchange_and_the_newest_is_collected(round_trip):
    ada = round_trip.exchange_submissions("ada")
    bob = round_trip.exchange_submissions("bob")
    assert len(ada) == 1 and len(bob) == 2
    submitted = round_trip.layout.folder("submitted", "bob")
    assert (submitted / NOTEBOOK).read_bytes() == (bob[-1] / NOTEBOOK).read_bytes()
    assert (submitted / NOTEBOOK).read_bytes() != (bob[0] / NOTEBOOK).read_bytes()
    assert exchange.read_timestamp(submitted) == exchange.read_timestamp(bob[-1])
    lines = round_trip.out["collect"]
    assert "ada  1 submission " in lines and "on time" in lines.split("ada  ")[1].splitlines()[0]
    assert "bob  2 submissions" in lines and "late by " in lines.split("bob  ")[1].splitlines()[0]


@slow
def test_exchange_timestamps_and_the_late_penalty_reach_the_gradebook(round_trip):
    with gradebook.open_gradebook(round_trip.course) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        assert assignment.duedate == round_trip.due  # naive UTC, to the microsecond
        subs = {s.student_id: s for s in assignment.submissions}
        assert set(subs) == {"ada", "bob"}
        for student, sub in subs.items():
            newest = round_trip.exchange_submissions(student)[-1]
            assert sub.timestamp == exchange.read_timestamp(newest), student
        ada, bob = subs["ada"], subs["bob"]
        assert ada.timestamp < round_trip.due < bob.timestamp
        assert ada.total_seconds_late == 0 and ada.late_submission_penalty == 0
        assert bob.total_seconds_late > 0
        # penalty_method "zero": the whole automatic score, taken off the total
        assert bob.code_score == ada.code_score == assignment.max_code_score
        assert bob.late_submission_penalty == pytest.approx(bob.score)
    with open(round_trip.course / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["ada"]["score"]) == float(rows["ada"]["raw_score"]) > 0
    assert float(rows["bob"]["score"]) == 0.0
    assert float(rows["bob"]["raw_score"]) == float(rows["ada"]["raw_score"])


@slow
def test_the_newest_submission_was_graded(round_trip):
    """bob's first submission had no answers; what was graded is his second, full marks."""
    graded = nbformat.read(round_trip.layout.notebook("autograded", "bob"), as_version=4)
    code = [c.source for c in graded.cells if c.cell_type == "code"]
    assert not [source for source in code if "raise NotImplementedError()" in source]
    assert "STUDENT_ID = 'bob'" in "\n".join(code)


@slow
def test_the_ta_summary_lists_the_late_student(round_trip):
    text = (round_trip.layout.reports / f"{ASSIGNMENT}_summary.md").read_text()
    late = text.split("## Late submissions")[1].split("\n## ")[0]
    assert f"Due {exchange.utc(round_trip.due)}." in late
    rows = [line for line in late.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 2 and rows[1].startswith("| bob | "), late  # the header, then bob
    assert "ada" not in late


# ------------------------------------------------------------------ feedback


@slow
def test_each_student_fetches_only_their_own_feedback(round_trip):
    released = list((round_trip.exchange / COURSE_ID / "feedback").glob("*.html"))
    assert len(released) == 2
    assert "released feedback to" in round_trip.out["feedback"]
    for student, other in ((round_trip.ada, "bob"), (round_trip.bob, "ada")):
        pages = student.feedback_pages()
        # one page: for the graded submission (bob's first, never graded, has none)
        assert len(pages) == 1, pages
        newest = round_trip.exchange_submissions(student.id)[-1]
        assert pages[0].parent.name == (newest / "timestamp.txt").read_text()
        own = round_trip.layout.notebook("feedback", student.id)
        assert pages[0].read_bytes() == own.read_bytes()
        text = html.unescape(re.sub(r"<[^>]+>", "", pages[0].read_text()))  # as read
        assert f"STUDENT_ID = '{student.id}'" in text and f"'{other}'" not in text
        assert len(student.cached_submissions()) == (2 if student.id == "bob" else 1)


# ------------------------------------------------------------------ the Assignments tab


@contextmanager
def assignments_tab(chromium, student: Student, state: Path):
    """JupyterLab in the student's home with their nbgrader config (browser_support.jupyter_lab
    gives it its own config folder), its Assignments tab open (Nbgrader -> Assignment List)."""
    (state / "config").mkdir(parents=True)
    shutil.copy(student.home / ".jupyter" / "nbgrader_config.py", state / "config")
    with (
        jupyter_lab(student.home, state, {"HOME": str(student.home)}) as lab,
        new_page(chromium) as page,
    ):
        page.goto(lab.url("lab"))
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
        page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
        yield page


@slow
def test_students_fetch_submit_and_read_feedback_in_the_assignments_tab(
    round_trip, chromium, tmp_path
):
    shots = screenshot_dir(tmp_path)
    cyd = Student.make(tmp_path / "home", "cyd", round_trip.exchange)
    with assignments_tab(chromium, cyd, tmp_path / "lab-cyd") as page:
        released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
        released.locator("button", has_text="Fetch").click(timeout=60_000)
        fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT)
        fetched.first.wait_for(timeout=60_000)
        assert (cyd.folder / NOTEBOOK).read_bytes() == (round_trip.release / NOTEBOOK).read_bytes()
        cyd.write(solved(round_trip.course, cyd.id))
        fetched.first.locator("button", has_text="Submit").click()
        submitted = page.locator("#submitted_assignments_list .nested_list_item")
        submitted.first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "student_assignment_list.png")
        shown = submitted.first.inner_text()
    (submission,) = round_trip.exchange_submissions("cyd")
    assert (submission / "timestamp.txt").read_text() in shown
    assert (submission / NOTEBOOK).read_bytes() == (cyd.folder / NOTEBOOK).read_bytes()

    ada = round_trip.ada
    shutil.rmtree(ada.folder / "feedback")  # fetched on the command line above: again, here
    with assignments_tab(chromium, ada, tmp_path / "lab-ada") as page:
        mine = page.locator("#submitted_assignments_list .nested_list_item").first
        mine.wait_for(timeout=60_000)
        assert "(feedback available to fetch)" in mine.inner_text()
        page.locator("#submitted_assignments_list button", has_text="Fetch Feedback").click()
        view = mine.locator("a", has_text="view feedback")
        view.wait_for(timeout=60_000)
        view.click()  # the file browser goes to the fetched page's folder
        page.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html").dblclick()
        seen = page.frame_locator(".jp-HTMLViewer iframe").locator("body")
        seen.get_by_text(f"{ASSIGNMENT} (Score: ").first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "student_feedback.png")
        text = seen.inner_text()
    assert "STUDENT_ID = 'ada'" in text and "'bob'" not in text
    (page_file,) = ada.feedback_pages()
    assert page_file.read_bytes() == round_trip.layout.notebook("feedback", "ada").read_bytes()


# ------------------------------------------------------------------ fast: the CLI's pieces


def test_due_dates_are_read_as_nbgrader_reads_them_and_typos_refused():
    assert exchange.parse_time("2026-03-01 23:59 Europe/Berlin") == datetime(2026, 3, 1, 22, 59)
    assert exchange.parse_time("2026-03-01 23:59:00.5 UTC") == datetime(
        2026, 3, 1, 23, 59, 0, 500000
    )
    with pytest.raises(exchange.ExchangeError, match="unknown time zone 'Europe/Berln'"):
        exchange.parse_time("2026-03-01 23:59 Europe/Berln")
    with pytest.raises(exchange.ExchangeError, match="not a date"):
        exchange.parse_time("tomorrow noon")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (3.4, "3 s"), (65, "1 min 5 s"), (3600, "1 h"), (7500, "2 h 5 min"),
     (90000, "1 d 1 h")],
)  # fmt: skip
def test_lateness_in_two_units(seconds, text):
    assert exchange.duration(seconds) == text


def _submission(folder: Path, stamp: str, secret: str = "s3cret", page: bool = False) -> None:
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text(stamp)
    if secret:
        (folder / "submission_secret.txt").write_text(secret)
    if page:
        (folder / f"{ASSIGNMENT}.html").write_text("<html></html>")


def test_feedback_is_released_only_for_the_graded_exchange_submission(tmp_path):
    layout = Layout(tmp_path)
    stamp, later = "2026-03-01 10:00:00.000001 UTC", "2026-03-01 11:00:00.000001 UTC"
    _submission(layout.folder("submitted", "ada"), stamp)  # graded: ready
    _submission(layout.folder("feedback", "ada"), stamp, page=True)
    _submission(layout.folder("submitted", "bob"), later)  # resubmitted after grading
    _submission(layout.folder("feedback", "bob"), stamp, page=True)
    _submission(layout.folder("submitted", "cyd"), stamp)  # collected, not graded yet
    _submission(layout.folder("submitted", "dee"), stamp, secret="")  # from an LMS zip
    _submission(layout.folder("feedback", "dee"), stamp, secret="", page=True)
    ready, skipped = exchange.feedback_to_release(layout)
    assert ready == ["ada"]
    assert skipped == {
        "bob": "the feedback is for an older submission: make grade",
        "cyd": "no feedback yet: make grade",
        "dee": "not submitted through the exchange (return it another way)",
    }


def test_inbound_counts_every_submission_of_the_assignment(tmp_path):
    where = exchange.Exchange(GradingContext.of(tmp_path), tmp_path / "x", COURSE_ID, explicit=True)
    inbound = where.folder / "inbound"
    for name in [
        f"ada+{ASSIGNMENT}+2026-03-01 10:00:00.1 UTC+k1",
        f"bob+{ASSIGNMENT}+2026-03-01 10:00:00.1 UTC+k2",
        f"bob+{ASSIGNMENT}+2026-03-01 11:00:00.1 UTC+k3",
        "bob+other_assignment+2026-03-01 11:00:00.1 UTC+k4",
    ]:
        (inbound / name).mkdir(parents=True)
    assert exchange.inbound_counts(where) == {"ada": 1, "bob": 2}


def test_the_exchange_root_is_the_course_config_s_unless_given(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "no_user_config"))
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "c101"\nc.Exchange.root = "/srv/ex"\n'
    )
    course = GradingContext.of(tmp_path)
    assert exchange.Exchange.of(course).root == Path("/srv/ex")
    assert exchange.Exchange.of(course).course_id == "c101"
    assert not exchange.Exchange.of(course).explicit
    given = exchange.Exchange.of(course, str(tmp_path / "ex"))
    assert given.root == tmp_path / "ex" and given.explicit


@pytest.mark.process
def test_release_without_release_folder_says_make_release(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "c101"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "course", "exchange", "release", "--course", str(tmp_path),
         "--exchange", str(tmp_path / "ex")],
        capture_output=True, text=True, timeout=120, env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "run `make release` first" in done.stderr
    assert not (tmp_path / "ex").exists()
