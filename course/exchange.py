"""nbgrader's exchange, the way assignments travel on a JupyterHub (docs/jupyterhub.md): the
instructor's steps around ``make grade``, each one nbgrader command run in the course folder
with the course's settings, followed by what it did in a few lines.

    python -m course exchange release  [--exchange ROOT] [--due DATE] [--force]
    python -m course exchange due DATE
    python -m course exchange collect  [--exchange ROOT] [--before-duedate]
    python -m course exchange feedback [--exchange ROOT]

release   ``nbgrader release_assignment``: release/<assignment>/ -> <root>/<course id>/outbound/.
          Students see it in JupyterLab's Assignments tab (or ``nbgrader fetch_assignment``).
due       the due date in the gradebook (``nbgrader db assignment add --duedate``), as
          "2026-03-01 23:59 Europe/Berlin"; autograde measures lateness against it.
collect   ``nbgrader collect --update``: each student's newest submission (or, with
          --before-duedate, the newest one on time) from <root>/<course id>/inbound/ into
          submitted/<student>/<assignment>/, with its timestamp.txt, which ``make grade``
          records in the gradebook (the penalty: ``c.LateSubmissionPlugin``); then one line a
          student: when, how many submissions, how late.
feedback  ``nbgrader release_feedback``: feedback/<student>/ -> <root>/<course id>/feedback/,
          named by a hash only the student's own submission knows. Students whose feedback is
          not for their collected submission (not graded since, or not from the exchange)
          are skipped and named.

The exchange root is ``--exchange`` if given, else nbgrader's configured ``c.Exchange.root``
(the course's nbgrader_config.py, or a hub's /etc/jupyter/nbgrader_config.py, or nbgrader's
default, /usr/local/share/nbgrader/exchange). The course id is nbgrader_config.py's
``c.CourseDirectory.course_id``: the gradebook's course and the exchange's folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from traitlets import Bool, Unicode

from course import gradebook, runner
from course.app import PROG, CourseCommand, launch, lazy
from course.context import GradingContext
from course.layout import Layout
from graders import ASSIGNMENT

DOCS = "docs/jupyterhub.md"
TIMESTAMP = "timestamp.txt"  # written by nbgrader submit, read by autograde
SECRET = "submission_secret.txt"  # written by nbgrader submit, names the feedback file


class ExchangeError(Exception):
    pass


# ------------------------------------------------------------------ where things are


def configured_root(course: Path) -> str:
    """The exchange root nbgrader's commands use when none is given: ``c.Exchange.root`` from
    the nbgrader_config.py files nbgrader reads (Jupyter's config folders, system-wide
    first, then the course folder), else nbgrader's default."""
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.exchange.default import Exchange
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(course)]:
        if (Path(folder) / "nbgrader_config.py").is_file():
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    return Exchange(config=config).root


@dataclass(frozen=True)
class Exchange:
    grading: GradingContext  # the course folder and its gradebook
    root: Path
    course_id: str
    explicit: bool  # --exchange given: passed on to nbgrader as --Exchange.root

    @classmethod
    def of(cls, grading: GradingContext, root: str | None = None) -> Exchange:
        return cls(
            grading,
            Path(root or configured_root(grading.root)).absolute(),
            gradebook.course_id(grading.root),
            bool(root),
        )

    @property
    def course(self) -> Path:
        return self.grading.root

    @property
    def folder(self) -> Path:
        return self.root / self.course_id

    def nbgrader(self, command: str, *args: str):
        """One nbgrader command in the course folder on the course's gradebook."""
        extra = [f"--Exchange.root={self.root}"] if self.explicit else []
        return runner.nbgrader(self.grading, command, *args, *extra, "--log-level=WARN")


def _check(done, what: str, hint: str = "") -> None:
    log = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise ExchangeError(f"{what} failed (exit {done.returncode}):\n{log}{hint}")
    if log:  # nbgrader's warnings (e.g. a submission owned by another user than it claims)
        print(log)


def parse_time(text: str) -> datetime:
    """A date as nbgrader reads it ("2026-03-01 23:59 Europe/Berlin"), as naive UTC. An
    unknown time zone is an error here; nbgrader would silently read the time as UTC."""
    import dateutil.tz
    from nbgrader.utils import parse_utc

    parts = text.split()
    if len(parts) == 3 and not parts[2].lstrip("+-").isdigit():
        if dateutil.tz.gettz(parts[2]) is None:
            raise ExchangeError(f"unknown time zone {parts[2]!r} in {text!r}")
    try:
        return parse_utc(text)
    except (ValueError, OverflowError) as error:
        raise ExchangeError(f"not a date: {text!r} ({error})") from None


def utc(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def duration(seconds: float) -> str:
    """How late, in its two largest units: 3 s, 1 min 5 s, 2 h 5 min, 1 d 1 h."""
    seconds = round(seconds)
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    for (name, size), (small_name, small_size) in zip(units, [*units[1:], ("", 1)], strict=True):
        if seconds >= size or name == "s":
            big, rest = divmod(seconds, size)
            small = rest // small_size if small_name else 0
            return f"{big} {name}" + (f" {small} {small_name}" if small else "")
    raise AssertionError("unreachable")


def due_date(grading: GradingContext, assignment: str | None = None) -> datetime | None:
    """The due date of `assignment` (default: the context's) in the gradebook, if any."""
    from nbgrader.api import MissingEntry

    assignment = assignment or grading.assignment
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        try:
            return gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None


# ------------------------------------------------------------------ the steps


def set_due(grading: GradingContext, when: str, assignment: str | None = None) -> datetime:
    """Set or move the due date of `assignment` (default: the context's) in the gradebook."""
    assignment = assignment or grading.assignment
    moment = parse_time(when)
    done = runner.nbgrader(
        grading, "db", "assignment", "add", assignment, f"--duedate={when}", "--log-level=WARN"
    )
    _check(done, "nbgrader db assignment add")
    print(f"due date of {assignment}: {utc(moment)} (in the gradebook)")
    return moment


def release(
    exchange: Exchange, *, due: str | None = None, force: bool = False, assignment=ASSIGNMENT
) -> Path:
    layout = Layout(exchange.course, assignment)
    if not layout.notebook("release").exists():
        raise ExchangeError(f"{layout.notebook('release')} is missing: run `make release` first")
    if due:
        set_due(exchange.grading, due, assignment)
    hint = ""
    if not os.access(exchange.root if exchange.root.exists() else exchange.root.parent, os.W_OK):
        hint = (
            f"\nThe exchange root must exist and be writable by everyone; an administrator "
            f"creates it once: sudo install -d -m 1777 {exchange.root} ({DOCS})."
        )
    done = exchange.nbgrader("release_assignment", assignment, *(["--force"] if force else []))
    _check(done, "nbgrader release_assignment", hint)
    outbound = exchange.folder / "outbound" / assignment
    files = sorted(p.name for p in outbound.iterdir())
    print(f"released {assignment} to {outbound}: {', '.join(files)}")
    print(f"course id: {exchange.course_id}; due: {utc(due_date(exchange.grading, assignment))}")
    return outbound


@dataclass
class Collected:
    student: str
    submissions: int  # in the exchange's inbound folder
    timestamp: datetime | None  # of the submission now in submitted/
    late_by: float  # seconds after the due date, 0 if on time or no due date

    def line(self, width: int) -> str:
        late = f"late by {duration(self.late_by)}" if self.late_by > 0 else "on time"
        count = f"{self.submissions} submission{'s' if self.submissions != 1 else ''}"
        return f"  {self.student:<{width}}  {count:<14} {utc(self.timestamp)}  {late}"


def inbound_counts(exchange: Exchange, assignment: str = ASSIGNMENT) -> dict[str, int]:
    """Submissions per student in the exchange (nbgrader's names: student+assignment+time+key)."""
    counts: dict[str, int] = {}
    inbound = exchange.folder / "inbound"
    for path in inbound.glob(f"*+{assignment}+*"):
        parts = path.name.rsplit("+", 3)
        if len(parts) == 4 and parts[1] == assignment:
            counts[parts[0]] = counts.get(parts[0], 0) + 1
    return counts


def read_timestamp(folder: Path) -> datetime | None:
    path = folder / TIMESTAMP
    return parse_time(path.read_text().strip()) if path.is_file() else None


def collect(
    exchange: Exchange, *, before_duedate: bool = False, assignment: str = ASSIGNMENT
) -> list[Collected]:
    counts = inbound_counts(exchange, assignment)
    if not counts:
        raise ExchangeError(f"no submissions of {assignment} in {exchange.folder / 'inbound'}")
    args = ["--update", *(["--before-duedate"] if before_duedate else [])]
    _check(exchange.nbgrader("collect", assignment, *args), "nbgrader collect")
    layout = Layout(exchange.course, assignment)
    due = due_date(exchange.grading, assignment)
    rows = []
    for student, n in sorted(counts.items()):
        stamp = read_timestamp(layout.folder("submitted", student))
        late = max(0.0, (stamp - due).total_seconds()) if stamp and due else 0.0
        rows.append(Collected(student, n, stamp, late))
    width = max(len(r.student) for r in rows)
    print(f"collected into {layout.folder('submitted', '<student>')} (due {utc(due)}):")
    print("\n".join(r.line(width) for r in rows))
    print("next: make grade")
    return rows


def _text(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def feedback_to_release(layout: Layout) -> tuple[list[str], dict[str, str]]:
    """(students whose feedback is for the submission now in submitted/ and came through the
    exchange, {student: why not} for the others with a feedback or submitted folder)."""
    ready, skipped = [], {}
    for student in sorted(set(layout.students("feedback")) | set(layout.students())):
        feedback = layout.folder("feedback", student)
        submitted = layout.folder("submitted", student)
        if not (submitted / SECRET).is_file():
            skipped[student] = "not submitted through the exchange (return it another way)"
        elif not list(feedback.glob("*.html")):
            skipped[student] = "no feedback yet: make grade"
        elif read_timestamp(feedback) != read_timestamp(submitted) or (
            _text(feedback / SECRET) != _text(submitted / SECRET)
        ):
            skipped[student] = "the feedback is for an older submission: make grade"
        else:
            ready.append(student)
    return ready, skipped


def release_feedback(exchange: Exchange, assignment: str = ASSIGNMENT) -> list[str]:
    layout = Layout(exchange.course, assignment)
    ready, skipped = feedback_to_release(layout)
    for student, why in skipped.items():
        print(f"  skipped {student}: {why}")
    if not ready:
        raise ExchangeError("no feedback to release: run `make grade` after collecting")
    args = [f"--CourseDirectory.student_id_exclude={','.join(skipped)}"] if skipped else []
    _check(exchange.nbgrader("release_feedback", assignment, *args), "nbgrader release_feedback")
    print(f"released feedback to {exchange.folder / 'feedback'} for: {', '.join(ready)}")
    print("students fetch it in the Assignments tab (or `nbgrader fetch_feedback`)")
    return ready


# ------------------------------------------------------------------ CLI


class _ExchangeCommand(CourseCommand):
    takes_knobs = False  # nbgrader's exchange commands run on the course's nbgrader_config.py
    exchange = Unicode("", help="Exchange root (default: nbgrader's c.Exchange.root).").tag(
        config=True
    )
    options = {"exchange": "exchange"}

    def run(self) -> int:
        try:
            self.act()
            return 0
        except ExchangeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    def act(self) -> None:
        raise NotImplementedError

    def course_grading(self) -> GradingContext:
        # resolved: the exchange's course folder has always been the real path
        return GradingContext.of(Path(self.course).resolve())

    def exchange_of(self) -> Exchange:
        return Exchange.of(self.course_grading(), self.exchange or None)


class ReleaseApp(_ExchangeCommand):
    name = f"{PROG} exchange release"
    description = "release/ -> the exchange (nbgrader release_assignment)."
    due = Unicode("", help='Due date, e.g. "2026-03-01 23:59 Europe/Berlin".').tag(config=True)
    force = Bool(False, help="Replace a released copy.").tag(config=True)
    options = {"due": "due"}
    switches = {"force": "force"}

    def act(self) -> None:
        release(self.exchange_of(), due=self.due or None, force=self.force)


class DueApp(_ExchangeCommand):
    name = f"{PROG} exchange due"
    description = "Set or move the due date in the gradebook."
    positional = ('DATE (e.g. "2026-03-01 23:59 Europe/Berlin")',)
    options = {"exchange": None}  # the gradebook's date: no exchange folder

    def act(self) -> None:
        if not self.extra_args:
            self.fail("due needs the date")
        set_due(self.course_grading(), self.extra_args[0])


class CollectApp(_ExchangeCommand):
    name = f"{PROG} exchange collect"
    description = "The exchange -> submitted/ (nbgrader collect --update)."
    before_duedate = Bool(False, help="The newest on-time submission.").tag(config=True)
    switches = {"before-duedate": "before_duedate"}

    def act(self) -> None:
        collect(self.exchange_of(), before_duedate=self.before_duedate)


class FeedbackApp(_ExchangeCommand):
    name = f"{PROG} exchange feedback"
    description = "feedback/ -> the exchange (nbgrader release_feedback)."

    def act(self) -> None:
        release_feedback(self.exchange_of())


class ExchangeApp(CourseCommand):
    name = f"{PROG} exchange"
    description = "nbgrader's exchange (JupyterHub): release, due date, collect, feedback."
    subcommands = {
        app.name.rsplit(" ", 1)[1]: (lazy(app), app.description)
        for app in (ReleaseApp, DueApp, CollectApp, FeedbackApp)
    }


def main(argv=None) -> int:
    return launch(ExchangeApp, argv)


if __name__ == "__main__":
    sys.exit(main())
