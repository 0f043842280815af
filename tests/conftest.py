"""Shared fixtures. The expensive one, ``graded_class``, grades the whole sample class with
real nbgrader in a temporary course folder once per test session, the way a course with
several graders does it: on Dask, 2 workers, one PostgreSQL gradebook (``make postgres``).
Many tests read that one result; tests/test_cluster.py checks it equals one-at-a-time
grading on SQLite."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from course import audit, gradebook, runner
from course.context import GradingContext
from graders import ASSIGNMENT
from scenarios import sample_class
from tests.support.course import (
    grade_on_dask,
    make_warm_course,
    nbgrader_ok,
)

PG_SERVER = os.environ.get("C1W3_TEST_POSTGRES", "postgresql://c1w3:c1w3@127.0.0.1:5432/postgres")


# The browser fixture (Debian's Chromium through Playwright), for every file that drives one.
pytest_plugins = ["tests.support.browser"]


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path, monkeypatch):
    """graders.hidden.grade() saves artifacts in ./_grading, as it does beside a notebook;
    tests run it from a temporary folder so the repository stays clean."""
    monkeypatch.chdir(tmp_path)


def _run_root(tmp_path_factory) -> Path:
    """This run's temporary root: shared by the xdist workers of one `make test`."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _exclusive(lock: Path):
    """One process at a time across this run's xdist workers (the others wait here)."""
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def training_cache(tmp_path_factory) -> Path:
    """The instructor's `make warm`, once per run (the first xdist worker to need it warms, the
    other waits and reuses it): the source notebook's two trainings run for real and become
    cache entries. The classes graded below reuse them where a submission trains exactly that
    (tests/test_training_cache.py proves a hit bit-identical to a real training; the sample
    class's audit regrades a hit without it, course/audit.py). Tests copy it, never write it."""
    root = _run_root(tmp_path_factory)
    folder = root / "training_cache"
    with _exclusive(root / "training_cache.lock"):
        if not (root / "training_cache.done").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker's failed attempt
            folder.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith("C1W3_TRAINING_CACHE")}
            done = subprocess.run(
                [sys.executable, "-m", "course.training_cache", "warm", "--cache", str(folder)],
                capture_output=True, text=True, timeout=1800, env=env,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            assert len(list(folder.glob("*/entry.json"))) == 2, done.stdout
            (root / "training_cache.done").touch()
    return folder


@pytest.fixture(scope="session")
def pg_server() -> str:
    """A PostgreSQL server whose role may CREATEDB; a missing server fails, never skips."""
    import psycopg2

    try:
        psycopg2.connect(gradebook._server_dsn(PG_SERVER), connect_timeout=5).close()
    except psycopg2.OperationalError as error:
        pytest.fail(
            f"PostgreSQL at {gradebook.masked(PG_SERVER)} is unreachable: {error}".strip()
            + "\nStart it with `make postgres` (as root), or set C1W3_TEST_POSTGRES "
            "to a server URL whose role may CREATEDB.",
            pytrace=False,
        )
    return PG_SERVER


@pytest.fixture(scope="session")
def fresh_database(pg_server):
    """A factory of empty databases on the test server, all dropped at the end."""
    made = []

    def make(template: str | None = None) -> str:
        name = f"c1w3_test_{uuid.uuid4().hex[:10]}"
        made.append(name)
        return gradebook.create_database(pg_server, name, template=template)

    yield make
    for name in made:
        gradebook.drop_database(pg_server, name)


@dataclass
class GradedClass:
    course: Path
    runs: dict[str, runner.GradingRun]
    db_url: str
    audit: audit.Audit

    def autograded(self, student: str) -> Path:
        return self.course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

    def feedback(self, student: str) -> Path:
        return self.course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"

    def grading_dir(self, student: str) -> Path:
        return self.autograded(student).parent / "_grading"


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory, fresh_database, training_cache) -> GradedClass:
    """generate_assignment -> submitted/ -> autograde (Dask, 2 workers, PostgreSQL) ->
    generate_feedback -> export, on the whole sample class (with the warmed training cache)."""
    course = make_warm_course(tmp_path_factory.mktemp("course"), training_cache)
    url = fresh_database()
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT, db_url=url)
    names = sample_class.write_class(course, release_root=course)
    runs = grade_on_dask(course, names, url)
    # As course.grade does after every batch: retrain a hit for real (one per entry used).
    audited = audit.audit_batch(GradingContext.of(course, db_url=url), runs.values(), seed=0)
    nbgrader_ok(course, "generate_feedback", ASSIGNMENT, db_url=url)
    nbgrader_ok(course, "export", "--to", str(course / "grades.csv"), db_url=url)
    return GradedClass(course, runs, url, audited)


# make test runs on pytest-xdist workers. Each test file is one unit of work, so its
# module-scoped gradings and servers are made once; the files that read the graded sample
# class are one unit together, so the class is graded once per run. (xdist's own
# --dist loadgroup does not group with pytest 9: its renamed node ids do not reach the
# scheduler.)
SAMPLE_CLASS_FILES = {
    "test_end_to_end.py",
    "test_accuracy.py",
    "test_audit.py",
    "test_similarity.py",
}


# Units handed out first, in this order; the rest follow in xdist's order (most tests first).
# The longest first (seconds each took in `make test` on a 2-core machine, 2026-12-06): one
# handed out last would run alone at the end while the other worker has nothing left.
# test_cluster second: it needs no warmed training cache, so the second worker grades while
# the first runs `make warm` (conftest.training_cache) instead of waiting for it.
HAND_OUT_FIRST = [
    "sample_class",  # 1253 s, the warm included
    "test_cluster.py",  # 187 s
    "test_hostile_class.py",  # 801 s
    "test_unprivileged.py",  # 355 s
    "test_browser.py",  # 197 s
    "test_exchange.py",  # 130 s
    "test_accessibility.py",  # 98 s
    "test_cli.py",  # 67 s
    "test_sandbox.py",  # 61 s
    "test_training_cache.py",  # 57 s
    "test_hub.py",  # 50 s
]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return "sample_class" if Path(file).name in SAMPLE_CLASS_FILES else file

        def _assign_work_unit(self, node) -> None:
            waiting = {Path(unit).name: unit for unit in self.workqueue}
            first = next((waiting[n] for n in HAND_OUT_FIRST if n in waiting), None)
            if first is not None:
                self.workqueue.move_to_end(first, last=False)  # xdist hands out the first
            super()._assign_work_unit(node)

    return ByFile(config, log)


# Fixtures of what only the machine provides: their tests are left out of make test-unit.
SYSTEM_FIXTURES = {"pg_server", "fresh_database", "browser", "chromium"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)
    strays = {
        Path(str(item.path)).name
        for item in items
        if "graded_class" in getattr(item, "fixturenames", ())
        and Path(str(item.path)).name not in SAMPLE_CLASS_FILES
    }
    if strays:  # on another worker they would grade the whole class a second time
        raise pytest.UsageError(f"add {sorted(strays)} to SAMPLE_CLASS_FILES in tests/conftest.py")
    # the files on disk, not this run's selection (-m, -k, a chosen file)
    files = {path.name for path in Path(__file__).parent.glob("test_*.py")}
    unknown = sorted(set(HAND_OUT_FIRST) - files - {"sample_class"})
    if unknown:  # a renamed file would lose its place in the order silently
        raise pytest.UsageError(
            f"HAND_OUT_FIRST in tests/conftest.py names no test file: {unknown}"
        )
