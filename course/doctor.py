"""Preflight (``make doctor``; ``make demo``, ``make grade`` and ``make grade-cluster`` run it
first): can this machine grade, and with what protection? Grading never starts a class of
submissions only to fail each one for the same missing piece.

    python -m course.doctor [--course DIR] [--db-url URL] [--workers N]

Checks the sandbox (by running a command in it, as grading will), the data, the gradebook
URL and the cores; prints one line per check and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from graders import COURSE_ROOT


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def check_sandbox(course: Path) -> Check:
    from course import sandbox
    from course.layout import load_config

    config = load_config(course)
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


def check_gradebook(course: Path, url: str | None, workers: int) -> Check:
    from course import gradebook

    url = gradebook.normalize(url or gradebook.db_url(course))
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


def check_released(course: Path, url: str | None) -> Check:
    """The gradebook knows the assignment (`make release` ran): without it every student
    fails one by one with nbgrader's "No assignment ... exists in the database"."""
    from nbgrader.api import MissingEntry

    from course import gradebook
    from graders import ASSIGNMENT

    url = gradebook.normalize(url or gradebook.db_url(course))
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


def run(
    course: Path = COURSE_ROOT, db_url: str | None = None, workers: int = 1, released=False
) -> list[Check]:
    checks = [
        check_sandbox(course),
        check_data(),
        check_gradebook(course, db_url, workers),
        check_cores(workers),
    ]
    if released:  # before grading (make grade), not before make demo's own release
        checks.append(check_released(course, db_url))
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--course", type=Path, default=COURSE_ROOT)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--released", action="store_true", help="also check that make release ran (grading)"
    )
    args = parser.parse_args(argv)
    checks = run(args.course, args.db_url, args.workers, args.released)
    for check in checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'} {check.name:10s} {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    if failed:
        print(f"doctor: cannot grade here yet ({', '.join(failed)}); see the lines above")
        return 1
    print("doctor: ready to grade")
    return 0


if __name__ == "__main__":
    sys.exit(main())
