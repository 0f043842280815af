"""Class-scale grading: Dask workers in parallel on one PostgreSQL gradebook give exactly the
grades one-at-a-time grading on SQLite gives, lose none when a worker dies, and re-grade
only what changed. Needs a PostgreSQL server (conftest's pg_server: scripts/postgres-start
as root, or C1W3_TEST_POSTGRES); without one these tests fail, they never skip."""

from __future__ import annotations

import csv
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import nbformat
import psutil
import pytest
from nbgrader.api import Grade, Gradebook, MissingEntry, SubmittedAssignment, SubmittedNotebook

from course import cluster, gradebook, runner
from course.context import GradingContext
from course.layout import Layout
from graders import ASSIGNMENT
from scenarios import sample_class
from tests.support.course import make_course

# Scenarios that never reach training (~30 s each); the ones with a valid model train for
# minutes. The broken file fails in nbgrader itself and must still be listed with 0.
FAST = ["untouched_release", "build_raises", "broken_notebook_file"]


def say(line: str) -> None:
    print(line, flush=True)


def nbgrader_ok(course: Path, *args: str, db_url: str):
    done = runner.nbgrader(GradingContext.of(course, db_url=db_url), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@dataclass
class Graded:
    course: Path
    db_url: str
    runs: dict[str, runner.GradingRun]
    sequential: Path  # the same students graded one at a time on SQLite
    sequential_runs: dict[str, runner.GradingRun]

    @property
    def sqlite_url(self) -> str:
        return gradebook.default_url(self.sequential)

    @cached_property  # one context per fixture: its nbgrader_config.py is read once
    def grading(self) -> GradingContext:
        return GradingContext.of(self.course, db_url=self.db_url)


def scores(url: str, student: str) -> dict[str, float] | None:
    with Gradebook(url) as gb:
        try:
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        except MissingEntry:
            return None
        return {g.name: g.score for g in nb.grades}


def rows_per_student(url: str) -> dict[str, tuple[int, int, int]]:
    """student -> (submissions, submitted notebooks, grades) in the gradebook."""
    with Gradebook(url) as gb:
        counts = {}
        for student in gb.students:
            submissions = gb.db.query(SubmittedAssignment).filter_by(student_id=student.id)
            notebooks = gb.db.query(SubmittedNotebook).join(SubmittedAssignment)
            notebooks = notebooks.filter(SubmittedAssignment.student_id == student.id)
            grades = gb.db.query(Grade).join(SubmittedNotebook).join(SubmittedAssignment)
            grades = grades.filter(SubmittedAssignment.student_id == student.id)
            counts[student.id] = (submissions.count(), notebooks.count(), grades.count())
        return counts


def exported(course: Path, url: str) -> list[dict]:
    out = course / "grades.csv"
    nbgrader_ok(course, "export", "--to", str(out), db_url=url)
    with open(out) as fh:
        return sorted(csv.DictReader(fh), key=lambda row: row["student_id"])


def assert_each_graded_once_as_sequential(graded: Graded) -> None:
    counts = rows_per_student(graded.db_url)
    # one submission, one notebook and as many grades as one-at-a-time grading recorded:
    # nothing lost, nothing twice
    reference = rows_per_student(graded.sqlite_url)
    assert set(reference) == set(FAST)
    assert counts == reference, counts
    assert {c[:2] for c in counts.values()} == {(1, 1)}, counts
    for student in FAST:
        on_dask = scores(graded.db_url, student)
        one_by_one = scores(graded.sqlite_url, student)
        assert on_dask == one_by_one, student


def _sequential(course: Path) -> dict[str, runner.GradingRun]:
    url = gradebook.default_url(course)
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT, db_url=url)
    sample_class.write_class(course, FAST, release_root=course)
    runs = runner.grade_class(GradingContext.of(course, db_url=url), FAST)
    return {r.student: r for r in runs}


@pytest.fixture(scope="session")
def graded(tmp_path_factory, fresh_database):
    """FAST graded on Dask (2 workers, a fresh PostgreSQL database) and, at the same time,
    one at a time on SQLite in a second course folder (the reference)."""
    url = fresh_database()  # conftest: fails (never skips) without a server
    sequential = make_course(tmp_path_factory.mktemp("sequential"))
    with ThreadPoolExecutor(1) as pool:
        reference = pool.submit(_sequential, sequential)
        course = make_course(tmp_path_factory.mktemp("on-dask"))
        nbgrader_ok(course, "generate_assignment", ASSIGNMENT, db_url=url)
        sample_class.write_class(course, FAST, release_root=course)
        start = time.perf_counter()
        runs = cluster.grade_class_on_dask(GradingContext.of(course, db_url=url), workers=2)
        say(f"on Dask: {time.perf_counter() - start:.0f} s")
        sequential_runs = reference.result()
    return Graded(course, url, {r.student: r for r in runs}, sequential, sequential_runs)


# ----------------------------------------------------------------- no nbgrader


def test_sqlite_with_several_workers_is_refused(tmp_path):
    on_sqlite = GradingContext.of(tmp_path, db_url=gradebook.default_url(tmp_path))
    with pytest.raises(cluster.GradingRefused, match="SQLite allows one writer.*postgres-start"):
        cluster.grade_class_on_dask(on_sqlite, ["a"], workers=2, only_missing=False)
    with pytest.raises(cluster.GradingRefused, match="SQLite allows one writer"):
        cluster.grade_class_on_dask(on_sqlite, ["a"], scheduler_address="tcp://127.0.0.1:1")


def test_gradebook_url_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(gradebook.ENV, raising=False)
    assert gradebook.db_url(tmp_path) == f"sqlite:///{tmp_path}/gradebook.db"
    monkeypatch.setenv(gradebook.ENV, "postgresql://u:secret@db.example:5432/grades")
    assert gradebook.db_url(tmp_path) == "postgresql+psycopg2://u:secret@db.example:5432/grades"
    assert "secret" not in gradebook.masked(gradebook.db_url(tmp_path))


def test_workers_get_disjoint_cores():
    machine = range(8)
    shares = [cluster.cpu_share(i, 4, machine) for i in range(4)]
    assert shares == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert cluster.cpu_share(5, 2, [0, 1]) == [1]  # a restarted worker keeps its index
    assert cluster.cpu_share(None, None, [3, 7]) == [3, 7]  # a SLURM job owns what it sees
    assert cluster.split([0, 1, 2, 3], 2) == [(0, 1), (2, 3)]
    assert cluster.split([0, 1, 2], 2) == [(0, 1), (2,)]
    assert cluster.split([5], 2) == [(5,), (5,)]


def test_core_slots_are_a_worker_plugin(monkeypatch):
    """Each worker's plugin instance holds its own slots (no module globals): a slot taken
    is given back, and two threads of one worker get different cores."""

    class Worker:
        def __init__(self, name, nthreads):
            self.name = name
            self.state = type("State", (), {"nthreads": nthreads})()

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    first, second = cluster.CoreSlots(2), cluster.CoreSlots(2)
    first.setup(Worker(0, 2))
    second.setup(Worker(1, 1))
    with first.slot() as a, first.slot() as b, second.slot() as c:
        assert (a, b, c) == ((0,), (1,), (2, 3))
    assert sorted(first.free) == [(0,), (1,)] and second.free == [(2, 3)]


def test_grading_process_is_pinned_and_sized_to_its_cores():
    import subprocess
    import sys

    cpu = min(os.sched_getaffinity(0))
    probe = "import os; print(sorted(os.sched_getaffinity(0)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        preexec_fn=runner._child_setup([cpu]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == str([cpu])
    # TensorFlow's pools are the same on every worker (results depend on them); numpy's
    # follow the share
    for cpus in ({cpu}, {0, 1, 2, 3}):
        env = runner.thread_env(cpus)
        assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == "2"
        assert env["OMP_NUM_THREADS"] == str(len(cpus))


def test_grading_reason_follows_the_submission_and_the_record(tmp_path, monkeypatch):
    monkeypatch.delenv(gradebook.ENV, raising=False)
    folder = tmp_path / "submitted" / "ann" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_text("{}")
    url = gradebook.default_url(tmp_path)
    # no --db-url, no $C1W3_DB_URL: the folder's own SQLite file, as the record names it
    own = GradingContext.of(tmp_path)

    def record(**changes):
        run = runner.GradingRun("ann", **dict(dict(ok=False, seconds=1.0), **changes))
        grading = GradingContext.of(tmp_path, db_url=url)
        runner.write_record(grading, run, submission=runner.submission_hash(grading.layout, "ann"))

    assert runner.grading_reason(own, "ann") == "not graded yet"
    record(reason="NotJSONError: ...")
    assert runner.grading_reason(own, "ann") is None  # the submission's own failure
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    assert runner.grading_reason(own, "ann") is None  # editor leftovers are not submitted
    record(reason="OperationalError: could not connect to server", retry=True)
    assert runner.grading_reason(own, "ann").startswith("retry")
    record(reason="NotJSONError: ...")
    elsewhere = GradingContext.of(tmp_path, db_url="postgresql://x@h/db")
    assert runner.grading_reason(elsewhere, "ann") == "graded into another gradebook"
    (folder / f"{ASSIGNMENT}.ipynb").write_text('{"cells": []}')
    assert runner.grading_reason(own, "ann") == "submission changed"


def _advisory_lock_waiters(url: str) -> int:
    import psycopg2

    conn = psycopg2.connect(gradebook._server_dsn(url), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_one_grading_per_student_at_a_time(pg_server):
    url = gradebook.normalize(pg_server)
    ann, bob = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("ann", "bob"))  # no other run's
    order = []

    def second():
        with gradebook.grading_lock(url, ann):
            order.append("second")

    with gradebook.grading_lock(url, ann):
        before = _advisory_lock_waiters(url)
        waiting = threading.Thread(target=second)
        waiting.start()
        # PostgreSQL itself says the second grading waits (no sleep that a slow thread outlasts)
        deadline = time.monotonic() + 30
        while _advisory_lock_waiters(url) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _advisory_lock_waiters(url) > before, "the second grading of ann did not wait"
        with gradebook.grading_lock(url, bob):  # another student does not wait
            order.append("bob")
        order.append("first")
    waiting.join(30)
    assert order == ["bob", "first", "second"]


def test_slurm_example_writes_a_job_script(tmp_path):
    from course import slurm_example  # importable without dask-jobqueue

    pytest.importorskip("dask_jobqueue")  # pip install -e '.[slurm]'
    with slurm_example.make_cluster(tmp_path) as slurm:
        script = slurm.job_script()
    assert "#SBATCH --cpus-per-task=2" in script and "#SBATCH --mem=3G" in script
    assert script.rstrip().endswith("--nthreads 1")  # one grading per job, on both cores


# ----------------------------------------------------------------- real nbgrader
# These share the one graded course (grading it again per test would cost a minute each);
# each leaves it fully graded, with the sequential grades, so their order does not matter.


@pytest.mark.slow
def test_every_student_graded_once_with_the_sequential_grades(graded):
    assert set(graded.runs) == set(FAST)
    for student in FAST:
        assert graded.runs[student].ok == graded.sequential_runs[student].ok, student
    assert not graded.runs["broken_notebook_file"].ok  # listed with 0, below
    assert_each_graded_once_as_sequential(graded)
    on_dask = exported(graded.course, graded.db_url)
    assert on_dask == exported(graded.sequential, graded.sqlite_url)
    assert {r["student_id"]: float(r["raw_score"]) for r in on_dask}["broken_notebook_file"] == 0
    # each worker had its own core(s); on a one-core machine both share it (cluster.cpu_share)
    cores = {re.search(r"cpus (\S+)", r.worker).group(1) for r in graded.runs.values()}
    assert len(cores) == min(2, len(os.sched_getaffinity(0))), [
        r.worker for r in graded.runs.values()
    ]


@pytest.mark.slow
def test_rerun_grades_only_what_changed(graded, monkeypatch):
    import distributed

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started with nothing to grade")

    with monkeypatch.context() as patch:
        patch.setattr(distributed, "LocalCluster", no_cluster)
        assert cluster.grade_class_on_dask(graded.grading, workers=2) == []

    # a resubmission: the same answers plus a note (so the same grades)
    path = graded.course / "submitted" / "untouched_release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Resubmitted after the deadline extension."))
    nbformat.write(nb, path)
    runs = cluster.grade_class_on_dask(graded.grading, workers=2)
    assert [(r.student, r.ok) for r in runs] == [("untouched_release", True)]
    assert_each_graded_once_as_sequential(graded)
    log = runner.recorded_runs(Layout(graded.course), FAST)
    assert [r.student for r in log] == FAST  # the runs log still lists the whole class


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _survivors(procs: list[psutil.Process], within_s: float) -> list[str]:
    """Those of `procs` still running `within_s` seconds from now."""
    deadline = time.time() + within_s
    alive = procs
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if _running(p)]
    return [f"{p.pid} {p.name()}" for p in alive]


def _kill_first_grading_worker(killed: dict, stop: threading.Event, after_s: float) -> None:
    """Kill (SIGKILL) the Dask worker process under the first autograde that has run for
    `after_s` seconds: autograde's parent is a worker, whose parent is this process."""
    me = psutil.Process()
    while not stop.is_set():
        for proc in me.children(recursive=True):
            try:
                cmd = proc.cmdline()
                worker = proc.parent()
                if (
                    "autograde" in cmd
                    and worker is not None
                    and worker.ppid() == me.pid
                    and time.time() - proc.create_time() > after_s
                ):
                    killed["student"] = cmd[cmd.index("--student") + 1]
                    orphans = [proc, *proc.children(recursive=True)]
                    worker.kill()
                    killed["survivors"] = _survivors(orphans, within_s=10)
                    return
            except (psutil.Error, ValueError):
                continue
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_worker_loses_no_grade(graded):
    names = ["untouched_release", "build_raises"]
    killed, stop = {}, threading.Event()
    killer = threading.Thread(target=_kill_first_grading_worker, args=(killed, stop, 5.0))
    killer.start()
    try:
        runs = cluster.grade_class_on_dask(graded.grading, names, workers=2, only_missing=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no grading ran long enough to be killed"
    say(f"killed the worker grading {killed['student']}")
    assert sorted((r.student, r.ok) for r in runs) == [(s, True) for s in sorted(names)]
    # the killed autograde and its kernel died with their worker (within seconds, not when
    # they finished): no orphan kept writing while the task re-ran
    assert killed["survivors"] == []
    assert_each_graded_once_as_sequential(graded)
    assert not any(runner.grading_reason(graded.grading, s) for s in FAST)


@pytest.mark.slow
def test_cli_with_nothing_to_grade_still_writes_feedback_and_grades(graded, capsys, monkeypatch):
    monkeypatch.delenv(gradebook.ENV, raising=False)
    (graded.sequential / "grades.csv").unlink(missing_ok=True)
    assert cluster.main(["--course", str(graded.sequential), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "0 of 3 need grading" in out
    assert re.search(r"broken_notebook_file\s+\|\s+0\.00 of 100", out)
    assert (graded.sequential / "grades.csv").exists()
