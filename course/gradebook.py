"""Where the gradebook is: the one place every tool asks.

One grader at a time can use nbgrader's default SQLite file (``<course>/gradebook.db``).
Several graders at once (``course.cluster``) need a database server: SQLite allows one
writer, and a second ``nbgrader autograde`` fails with "database is locked". Set
``C1W3_DB_URL=postgresql://user:password@host:5432/dbname`` (or pass ``--db-url``) and
every nbgrader command the course tools run, and every gradebook they open, use it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from course import nbgrader_cli

ENV = "C1W3_DB_URL"
DEFAULT_COURSE_ID = "default_course"  # nbgrader's own default


def default_url(course_root: Path) -> str:
    """nbgrader's default: the SQLite file in the course folder."""
    return f"sqlite:///{os.path.abspath(course_root)}/gradebook.db"


def db_url(course_root: Path) -> str:
    return normalize(os.environ.get(ENV) or default_url(course_root))


def normalize(url: str) -> str:
    """Name the driver this package installs: SQLAlchemy 2.1 reads a bare postgresql://
    as psycopg 3, which is not installed (psycopg2-binary is)."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def masked(url: str) -> str:
    """The URL without its password, for logs and run records."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def course_id(course_root: Path) -> str:
    """The course id nbgrader_config.py sets. A gradebook opened with another id gets a
    second course row (nbgrader creates it), and two graders creating it at once collide."""
    from course.layout import load_config

    config = load_config(course_root)
    return config.CourseDirectory.get("course_id", DEFAULT_COURSE_ID) or DEFAULT_COURSE_ID


@contextmanager
def open_gradebook(course_root: Path, url: str | None = None):
    from nbgrader.api import Gradebook

    url, course = normalize(url or db_url(course_root)), course_id(course_root)
    try:
        gb = Gradebook(url, course)
    except FileNotFoundError as error:  # a new database, and `alembic` not on our PATH
        if "alembic" not in str(error):
            raise
        create_in_child(course_root, url, course)
        gb = Gradebook(url, course)
    with gb:
        yield gb


def create_in_child(course_root: Path, url: str, course: str) -> None:
    """nbgrader's Gradebook stamps a new database by running `alembic` by name, which need
    not be on this process's PATH (`python -m course.lms` run without make): an nbgrader
    child does it, given this interpreter's bin on its PATH explicitly; this process's
    environment is never edited."""
    bindir = str(Path(sys.executable).parent)
    done = subprocess.run(
        nbgrader_cli.argv("db", "student", "list", f"--CourseDirectory.db_url={url}",
                          f"--CourseDirectory.course_id={course}"),
        cwd=course_root, capture_output=True, text=True,
        env=dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", "")),
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(
            f"nbgrader could not create the gradebook at {masked(url)}:\n"
            + (done.stderr or done.stdout)[-2000:]
        )


def final_score(submission) -> float:
    """A submission's score as the LMS receives it: nbgrader's score (automatic and manual)
    minus its late penalty, never below 0 (the CSV export and LTI publish both send this)."""
    return max(0.0, (submission.score or 0.0) - (submission.late_submission_penalty or 0.0))


@contextmanager
def grading_lock(url: str, student: str):
    """Hold a PostgreSQL advisory lock for `student` while grading them: two gradings of
    one student never overlap. Dask re-runs the task of a worker it lost contact with;
    if that worker still lives (a network split, not a crash), its autograde runs on, and
    the re-run waits for it here instead of writing the same rows and folder beside it.
    The lock lives in this connection: a process that dies releases it. SQLite: no-op
    (one grader at a time anyway)."""
    if not url.startswith("postgresql"):
        yield
        return
    import psycopg2

    key = int.from_bytes(hashlib.sha256(f"c1w3 grading {student}".encode()).digest()[:8], "big")
    conn = psycopg2.connect(_server_dsn(url), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key - 2**63,))  # a signed bigint
        yield
    finally:
        conn.close()


# ------------------------------------------------------------- PostgreSQL helpers
# Tests (and an instructor setting up a semester) make one database per gradebook.


def _server_dsn(server_url: str, database: str | None = None) -> str:
    """A libpq URL (psycopg2 does not read SQLAlchemy's 'postgresql+psycopg2://')."""
    from sqlalchemy.engine import make_url

    url = make_url(server_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _admin(server_url: str, statement) -> None:
    import psycopg2

    conn = psycopg2.connect(_server_dsn(server_url), connect_timeout=5)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database `name` (a copy of `template` if given) on the server; returns its URL.

    `server_url` is any database on the server the role may connect to, e.g.
    postgresql://c1w3:c1w3@127.0.0.1:5432/postgres; the role needs CREATEDB."""
    from psycopg2 import sql

    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    _admin(server_url, statement)
    return normalize(_server_dsn(server_url, name))


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name` if it exists, ending any connection still open to it."""
    from psycopg2 import sql

    _admin(
        server_url,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
    )


def database_name(url: str) -> str:
    """The database a server URL points at (to copy it with create_database's template)."""
    from sqlalchemy.engine import make_url

    return make_url(url).database
