"""Grade a whole class in parallel on Dask: one task per student, each an ``nbgrader
autograde`` process (course.runner) pinned to its worker's share of the cores, all writing
to one PostgreSQL gradebook. By default only what is missing or changed is graded.

    python -m course grade-cluster [--course DIR] [--workers N] [--scheduler ADDRESS]
                             [--db-url URL] [--all] [--students ID ...]

Then, like ``python -m course grade``: generate_feedback, export grades.csv, TA summary.
Without --scheduler a LocalCluster on this machine (one worker per c.GradingLimits.cores_per_task
cores);
with it, the workers of an existing scheduler (e.g. SLURM jobs: course/slurm_example.py).
The course folder (submitted/, autograded/, reports/) must be the same path on every
worker: a shared file system on a cluster.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin
from traitlets import Bool, Integer, List, Unicode

from course import gradebook, runner
from course.app import PROG, GradebookCommand, launch
from course.context import GradingContext, GradingLimits
from course.layout import Layout

# Times the scheduler re-runs a task whose worker died (Dask's own count, separate from
# `retries`, which is for exceptions). Applies to the LocalCluster made here; an external
# scheduler uses its own distributed.scheduler.allowed-failures.
ALLOWED_FAILURES = 3
TASK_RETRIES = 2


# --------------------------------------------------------------- on the worker
# Each worker process hands out its cores in slots, one per thread, so gradings that run
# at the same time never share a core (TensorFlow would otherwise size its pools to the
# whole machine in every kernel and they would fight over it).


def cpu_share(worker_index: int | None, local_workers: int | None, cpus) -> list[int]:
    """The cores of one worker. LocalCluster workers all see the whole machine, so worker
    i of W takes the i-th W-th of it; a worker elsewhere (a SLURM job) owns all it sees,
    since the batch system confines its affinity to the cores it booked."""
    cpus = sorted(cpus)
    if not local_workers or worker_index is None:
        return cpus
    i = worker_index % local_workers
    k = len(cpus) // local_workers
    if k == 0:  # more workers than cores: share round-robin
        return [cpus[i % len(cpus)]]
    return cpus[i * k : (i + 1) * k]


def split(share: list[int], n: int) -> list[tuple[int, ...]]:
    """`share` in n contiguous slots (a core each, round-robin, if there are fewer cores)."""
    if n >= len(share):
        return [(share[j % len(share)],) for j in range(n)]
    k, extra = divmod(len(share), n)
    slots, start = [], 0
    for j in range(n):
        end = start + k + (1 if j < extra else 0)
        slots.append(tuple(share[start:end]))
        start = end
    return slots


def _worker_index(name) -> int | None:
    try:
        return int(name)
    except (TypeError, ValueError):
        return None


class CoreSlots(WorkerPlugin):
    """Registered by the client, set up in every worker process (also in workers that join
    later): the worker's cores in one slot per thread."""

    name = "c1w3-core-slots"

    def __init__(self, local_workers: int | None):
        self.local_workers = local_workers  # pickled to the workers: no lock here

    def setup(self, worker) -> None:
        self.lock = threading.Lock()
        share = cpu_share(_worker_index(worker.name), self.local_workers, os.sched_getaffinity(0))
        self.free = split(share, max(1, worker.state.nthreads))

    @contextmanager
    def slot(self):
        with self.lock:
            slot = self.free.pop(0) if self.free else tuple(sorted(os.sched_getaffinity(0)))
        try:
            yield slot
        finally:
            with self.lock:
                self.free.append(slot)


def _grade_task(context: tuple[str, str, str, bool, tuple[str, ...]], student: str):
    """`context`: (course root, assignment, gradebook URL, training cache on, command-line
    options), plain values for the trip to the worker; the worker's GradingContext is made
    of them."""
    from distributed import get_worker

    root, assignment, db_url, cache, options = context
    grading = GradingContext(Layout(Path(root), assignment), db_url, cache, tuple(options))
    worker = get_worker()
    with worker.plugins[CoreSlots.name].slot() as slot:
        with gradebook.grading_lock(db_url, student):
            return runner.grade_student(
                grading,
                student,
                cpus=set(slot),
                worker=f"{worker.name}@{socket.gethostname()} cpus {','.join(map(str, slot))}",
            )


# --------------------------------------------------------------- on the client


def default_workers(limits: GradingLimits | None = None) -> int:
    """One worker per c.GradingLimits.cores_per_task cores. A training submission grades in
    ~140 s on two cores, ~260 s on one: on a 2-core machine one worker grades as fast as two
    (docs/benchmarks.md)."""
    per_task = (limits or GradingLimits()).cores_per_task
    return max(1, len(os.sched_getaffinity(0)) // max(1, per_task))


class GradingRefused(ValueError):
    """Nothing was started: the setup would lose or corrupt grades (the message says why)."""


def refuse_sqlite(url: str, why: str) -> None:
    if gradebook.is_sqlite(url):
        raise GradingRefused(
            f"{why} cannot share the SQLite gradebook {gradebook.masked(url)}: SQLite "
            "allows one writer, and the other autogrades would fail with 'database is "
            "locked'. Use PostgreSQL: run scripts/postgres-start (or ask for a database), "
            "then pass --db-url postgresql://USER:PASSWORD@HOST:5432/DB (or set "
            f"{gradebook.ENV}); or grade with --workers 1."
        )


def _check_gradebook(grading: GradingContext) -> None:
    """Fail before starting any worker if the gradebook is unreachable or was never given
    the assignment (each task would otherwise fail the same way, slowly)."""
    from nbgrader.api import MissingEntry

    url, assignment = grading.db_url, grading.assignment
    try:
        with gradebook.open_gradebook(grading.root, url) as gb:
            gb.find_assignment(assignment)
    except MissingEntry:
        raise GradingRefused(
            f"the gradebook {gradebook.masked(url)} has no assignment {assignment!r}: run "
            f"nbgrader generate_assignment {assignment} --CourseDirectory.db_url=... first"
        ) from None


def _lost(grading: GradingContext, student: str, error) -> runner.GradingRun:
    """A task that never returned (its workers kept dying, or it raised every time):
    recorded as failed for an infrastructure reason, so the next run grades it again."""
    run = runner.GradingRun(
        student, False, 0.0, f"{type(error).__name__}: {error}"[:300], retry=True
    )
    try:  # still listed by export, with 0, until it is graded
        runner.record_ungraded(grading, student)
    except Exception as db_error:  # the gradebook itself may be why the task failed
        run.reason += f" (and not recorded in the gradebook: {type(db_error).__name__})"
    submission = runner.submission_hash(grading.layout, student)
    runner.write_record(grading, run, submission=submission)
    return run


def _run_tasks(client, grading: GradingContext, todo, local_workers, say):
    from distributed import as_completed

    client.register_plugin(CoreSlots(local_workers), name=CoreSlots.name)
    futures = {
        client.submit(
            _grade_task,
            (
                str(grading.root),
                grading.assignment,
                grading.db_url,
                grading.training_cache,
                grading.options,
            ),
            student,
            key=f"autograde-{student}-{uuid.uuid4().hex[:8]}",
            pure=False,
            retries=TASK_RETRIES,
        ): student
        for student in todo
    }
    runs, ok, failed = {}, 0, 0
    for future in as_completed(futures):
        student = futures[future]
        try:
            run = future.result()
        except Exception as error:  # KilledWorker after ALLOWED_FAILURES, or raised 3 times
            run = _lost(grading, student, error)
        runs[student] = run
        ok, failed = ok + run.ok, failed + (not run.ok)
        status = "ok" if run.ok else f"FAILED: {run.reason}"
        say(
            f"[done {ok} | failed {failed} | left {len(todo) - ok - failed}] "
            f"{student}: {status} ({run.seconds:.0f} s, worker {run.worker or '?'})"
        )
    return [runs[s] for s in todo]


def grade_class_on_dask(
    grading: GradingContext,
    names=None,
    *,
    workers: int | None = None,
    scheduler_address: str | None = None,
    only_missing: bool = True,
) -> list[runner.GradingRun]:
    """Autograde `names` (default: everyone in submitted/) on Dask, one task per student,
    into the gradebook `grading` names.

    Returns the runs of this call (with only_missing, just those grading_reason picked;
    [] if nothing needed it, without starting a cluster). Every requested student's last
    run goes to reports/<assignment>_runs.json; an ungradable one is kept in the gradebook.
    """
    import dask
    from distributed import Client, LocalCluster

    url = grading.db_url
    say = runner.log.info
    names = list(dict.fromkeys(names or grading.layout.students()))
    n_workers = workers or default_workers(grading.limits)
    if scheduler_address is not None:
        # its workers may be many, on other machines, and come and go
        refuse_sqlite(url, f"the workers of scheduler {scheduler_address}")
    elif n_workers > 1:
        refuse_sqlite(url, f"{n_workers} workers grading at once")

    todo = names
    if only_missing:
        reasons = {s: runner.grading_reason(grading, s) for s in names}
        todo = [s for s in names if reasons[s]]
        say(
            f"{len(todo)} of {len(names)} need grading"
            + "".join(f"\n  {s}: {reasons[s]}" for s in todo)
        )
    if not todo:
        runner.write_runs_log(grading.layout, names)
        return []
    _check_gradebook(grading)

    start = time.perf_counter()
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        if scheduler_address is None:
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # no fixed port to collide on; bokeh is not installed
            )
            local_workers = n_workers
        else:
            cluster, local_workers = None, None
        try:
            with Client(cluster or scheduler_address) as client:
                say(f"grading {len(todo)} on {_describe(client, n_workers, local_workers)}")
                runs = _run_tasks(client, grading, todo, local_workers, say)
        finally:
            if cluster is not None:
                cluster.close()
    ok = sum(r.ok for r in runs)
    say(f"graded {len(runs)} ({ok} ok) in {time.perf_counter() - start:.0f} s")
    runner.write_runs_log(grading.layout, names)
    return runs


def dask_grader(**options) -> Callable:
    """The `grade(grading, names)` step of course.grade.grade_assignment, on Dask with
    `options` (those of grade_class_on_dask)."""
    return lambda grading, names: grade_class_on_dask(grading, names, **options)


def _describe(client, n_workers, local_workers) -> str:
    if local_workers:
        return f"a LocalCluster of {n_workers} workers"
    info = client.scheduler_info()["workers"]
    return f"{len(info)} workers, {sum(w['nthreads'] for w in info.values())} threads"


class GradeClusterApp(GradebookCommand):
    name = f"{PROG} grade-cluster"
    description = "make grade's pipeline with the autograding on Dask (docs/cluster.md)."
    workers = Integer(
        None,
        allow_none=True,
        help="LocalCluster workers (default: cores / c.GradingLimits.cores_per_task).",
    ).tag(config=True)
    scheduler = Unicode("", help="Address of a running Dask scheduler.").tag(config=True)
    everyone = Bool(False, help="Grade everyone, not only what is missing or changed.").tag(
        config=True
    )
    students = List(Unicode(), help="Only these students.").tag(config=True, several=True)
    options = {"workers": "workers", "scheduler": "scheduler", "students": "students"}
    switches = {"all": "everyone"}

    def run(self) -> int:
        from course import grade

        runner.show_progress()
        on_dask = dask_grader(
            workers=self.workers,
            scheduler_address=self.scheduler or None,
            only_missing=not self.everyone,
        )
        try:
            # one gradebook for the autograding, feedback, export and the TA summary
            grade.grade_assignment(
                self.grading(db_url=self.db_url), self.students or None, grade=on_dask
            )
        except GradingRefused as error:
            raise SystemExit(str(error)) from None
        return 0


def main(argv=None) -> int:
    return launch(GradeClusterApp, argv)


if __name__ == "__main__":
    sys.exit(main())
