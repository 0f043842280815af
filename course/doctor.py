"""Preflight (``make doctor``; ``make demo``, ``make grade`` and ``make grade-cluster`` run it
first): can this machine grade, and with what protection? Grading never starts a class of
submissions only to fail each one for the same missing piece.

    python -m course doctor [--course DIR] [--db-url URL] [--workers N] [--released]

Checks the sandbox (by running a command in it, as grading will), the data, the gradebook
URL and the cores; with ``--released`` (before grading) also that ``make release`` ran on the
current source/ and that submitted/ holds something. Prints one line per check and exits 1
if any check failed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from traitlets import Bool, Integer

from course.app import PROG, GradebookCommand, launch
from course.context import GradingContext


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def check_sandbox(grading: GradingContext) -> Check:
    """The sandbox as `grading` configures it (its knobs over the course's config)."""
    from course import sandbox

    config = grading.config
    name, guarantees = sandbox.tier(config=config)
    if name == "disabled":
        return Check("sandbox", True, f"OFF: {guarantees}; trusted notebooks only")
    if name == "refused":
        return Check("sandbox", False, guarantees)
    with tempfile.TemporaryDirectory(prefix="c1w3-doctor-") as folder:
        os.chmod(folder, 0o777)  # the sandbox's user must be able to enter it
        try:
            done, limit = sandbox.run(
                [sys.executable, "-I", "-c", "print('sandbox ok')"],
                Path(folder),
                timeout=60,
                config=config,
            )
        except sandbox.SandboxError as exc:
            return Check("sandbox", False, str(exc))
    if done.returncode != 0 or "sandbox ok" not in done.stdout:
        tail = (done.stderr.strip().splitlines() or [limit or "no output"])[-1]
        return Check("sandbox", False, f"a test command failed in the sandbox: {tail}")
    return Check("sandbox", True, f"works ({name} - {guarantees})")


def check_data() -> Check:
    from graders import data

    try:
        where = data.verify()
    except data.DataError as exc:
        return Check("data", False, f"{exc} (fix: make data)")
    return Check("data", True, f"the 4 official Fashion-MNIST files verified in {where}")


def check_gradebook(grading: GradingContext, workers: int) -> Check:
    from course import gradebook

    course, url = grading.root, grading.db_url
    shown = gradebook.masked(url)
    if gradebook.is_sqlite(url):
        if workers > 1:
            from course.cluster import GradingRefused, refuse_sqlite

            try:
                refuse_sqlite(url, f"{workers} workers")
            except GradingRefused as exc:
                return Check("gradebook", False, str(exc))
        folder = Path(url.split("sqlite:///", 1)[-1]).parent
        if not os.access(folder, os.W_OK):
            return Check("gradebook", False, f"{shown}: {folder} is not writable")
        return Check("gradebook", True, f"{shown} (SQLite: one grader at a time)")
    try:
        with gradebook.open_gradebook(course, url) as gb:
            gb.students  # noqa: B018  (a query: the server answers and the schema is there)
    except Exception as exc:
        return Check("gradebook", False, f"{shown}: {type(exc).__name__}: {exc}".splitlines()[0])
    return Check("gradebook", True, f"{shown} reachable")


def check_released(grading: GradingContext) -> Check:
    """The gradebook knows the assignment (`make release` ran): without it every student
    fails one by one with nbgrader's "No assignment ... exists in the database"."""
    from nbgrader.api import MissingEntry

    from course import gradebook
    from graders import ASSIGNMENT

    course, url = grading.root, grading.db_url
    fix = f"run `make release` (nbgrader generate_assignment {ASSIGNMENT}) first"
    if gradebook.is_sqlite(url) and not Path(url.split("sqlite:///", 1)[-1]).exists():
        return Check("released", False, f"no gradebook yet: {fix}")
    try:
        with gradebook.open_gradebook(course, url) as gb:
            gb.find_assignment(ASSIGNMENT)
    except MissingEntry:
        return Check("released", False, f"the gradebook has no assignment {ASSIGNMENT!r}: {fix}")
    except Exception as exc:
        return Check("released", False, f"{type(exc).__name__}: {exc}".splitlines()[0])
    return Check("released", True, f"{ASSIGNMENT} is in the gradebook")


def _stored_checksums(course: Path, url: str) -> dict[str, str]:
    """grade id -> checksum of the assignment's locked, graded and solution cells, as
    `make release` recorded them in the gradebook at `url` (nbgrader's autograde judges
    submissions against these)."""
    from course import gradebook
    from graders import ASSIGNMENT

    with gradebook.open_gradebook(course, url) as gb:
        notebook = gb.find_notebook(ASSIGNMENT, ASSIGNMENT)
        return {cell.name: cell.checksum for cell in notebook.source_cells}


def check_release_current(grading: GradingContext) -> Check:
    """The gradebook's release is the one source/ gives now: release the current source into
    a scratch course (nbgrader generate_assignment, ~10 s) and compare the cells' checksums.
    An edit to source/ after `make release` would otherwise grade against the old cells."""
    import shutil

    from course import gradebook, runner
    from graders import ASSIGNMENT

    course, url = grading.root, grading.db_url
    try:
        stored = _stored_checksums(course, url)
    except Exception:
        return Check("release", False, "no release in the gradebook to compare (see 'released')")
    with tempfile.TemporaryDirectory(prefix="c1w3-doctor-") as tmp:
        scratch = Path(tmp)
        shutil.copy(course / "nbgrader_config.py", scratch / "nbgrader_config.py")
        shutil.copytree(course / "source" / ASSIGNMENT, scratch / "source" / ASSIGNMENT)
        # named, not left to GradingContext.of: with $C1W3_DB_URL set, the scratch release
        # would go into the real gradebook
        fresh_url = gradebook.default_url(scratch)
        scratch_grading = GradingContext.of(scratch, db_url=fresh_url)
        done = runner.nbgrader(scratch_grading, "generate_assignment", ASSIGNMENT)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return Check("release", False, f"source/ does not release: {tail}")
        fresh = _stored_checksums(scratch, fresh_url)
    changed = sorted(k for k in stored.keys() | fresh.keys() if stored.get(k) != fresh.get(k))
    if changed:
        return Check(
            "release",
            False,
            f"source/ changed since `make release` (cells {', '.join(changed)}): run "
            "`make release` again (students keep what they fetched; their locked and test "
            "cells are replaced from the new release when graded)",
        )
    return Check("release", True, "release/ and the gradebook match source/")


def check_submitted(course: Path) -> Check:
    from course.layout import Layout

    layout = Layout(course)
    names = layout.students()
    if not names:
        return Check(
            "submitted",
            False,
            f"{layout.folder('submitted', '<student>')}/ is empty: collect first "
            "(`make collect ZIP=...` from an LMS, `make collect-exchange` on a hub)",
        )
    return Check("submitted", True, f"{len(names)} submissions in submitted/")


def check_cores(workers: int) -> Check:
    cores = len(os.sched_getaffinity(0))
    per_worker = cores / max(workers, 1)
    detail = f"{cores} cores for {workers} worker(s)"
    if per_worker < 1:
        return Check("cores", False, f"{detail}: fewer cores than workers")
    note = (
        ""
        if per_worker >= 2
        else " (each grading runs TensorFlow's 2+2 threads on fewer cores: slower, same grades)"
    )  # noqa: E501
    return Check("cores", True, detail + note)


def run(grading: GradingContext, workers: int = 1, released=False) -> list[Check]:
    checks = [
        check_sandbox(grading),
        check_data(),
        check_gradebook(grading, workers),
        check_cores(workers),
    ]
    if released:  # before grading (make grade), not before make demo's own release
        checks.append(check_released(grading))
        if checks[-1].ok:
            checks.append(check_release_current(grading))
        checks.append(check_submitted(grading.root))
    return checks


class DoctorApp(GradebookCommand):
    name = f"{PROG} doctor"
    description = __doc__.split("\n\n")[0]
    workers = Integer(1, help="Grading workers to check memory and cores for.").tag(config=True)
    released = Bool(False, help="Also check that make release ran (before grading).").tag(
        config=True
    )
    options = {"workers": "workers"}
    switches = {"released": "released"}

    def run(self) -> int:
        checks = run(self.grading(db_url=self.db_url), self.workers, self.released)
        for check in checks:
            print(f"  {'ok  ' if check.ok else 'FAIL'} {check.name:10s} {check.detail}")
        failed = [c.name for c in checks if not c.ok]
        if failed:
            print(f"doctor: cannot grade here yet ({', '.join(failed)}); see the lines above")
            return 1
        print("doctor: ready to grade")
        return 0


def main(argv=None) -> int:
    return launch(DoctorApp, argv)


if __name__ == "__main__":
    sys.exit(main())
