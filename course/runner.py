"""Grade submissions one student at a time, each in its own ``nbgrader autograde`` process.

One process per submission is the seam that makes a batch robust: a submission that
crashes nbgrader, hangs past its wall-time limit or breaks its notebook file costs only
its own grade, which is then recorded with the reason (never silently missing).

After each grading this (parent) process writes a small record,
``reports/runs/<assignment>/<student>.json``: the hash of what was graded, the outcome and
where it ran. :func:`grading_reason` reads it, so a re-run grades only what is missing or
changed (``course.cluster`` does that by default).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from course import gradebook, nbgrader_cli
from course.context import GradingContext, files_hash, visible_files
from course.layout import COURSE_ROOT, Layout
from graders import settings

# Progress of a batch: one line per student (the commands show it: course/__main__.py).
log = logging.getLogger("course.grading")


def show_progress() -> None:
    """For the commands: progress lines on stdout, as they come."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)


# Failures that say nothing about the submission: the machine or the database let the
# grader down. grading_reason() retries these; a submission's own failure (broken file,
# wall-time limit) is not retried: it would fail again and cost the same again.
INFRASTRUCTURE_ERROR = re.compile(
    r"OperationalError|database is locked|could not connect to server|Connection refused"
    r"|server closed the connection|psycopg2\.\w*Error|No space left on device"
)


@dataclass
class GradingRun:
    student: str
    ok: bool
    seconds: float
    reason: str = ""
    worker: str = ""  # host (and Dask worker) that graded it
    retry: bool = False  # failed for an infrastructure reason: grade again next time
    note: str = ""  # for the TA: e.g. a misnamed upload graded as the assignment's notebook


# Loaded before any fork: the child between fork and exec must not import or dlopen.
_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup(cpus):
    """preexec_fn for nbgrader: die with the thread that started it (a Dask worker that is
    killed must not leave an orphan autograde writing to the gradebook while its task
    re-runs elsewhere; that thread waits in subprocess.run until nbgrader ends, so it only
    goes away with its process), and run on `cpus` only. The student's kernel inherits the
    affinity, and exits when nbgrader does."""

    def setup():
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def thread_env(cpus=None) -> dict[str, str]:
    """TensorFlow's pools at graders/settings.py's fixed size, whatever the worker's share (a
    grade must not depend on which worker graded it); numpy's OpenBLAS sized to the share."""
    env = dict(settings.TF_THREAD_VARIABLES)
    if cpus:
        env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(len(cpus))
    return env


def nbgrader(grading: GradingContext, *args: str, timeout: float | None = None, cpus=None):
    """Run one nbgrader command in the course folder of `grading` (with its gradebook, options
    and training-cache switch) with this environment's tools, on `cpus` if given."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    # The student's kernel inherits this environment: it gets no database address from it.
    env.pop(gradebook.ENV, None)
    env.update(thread_env(cpus))
    return subprocess.run(
        nbgrader_cli.argv(*args, *grading.nbgrader_options()),
        cwd=grading.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_child_setup(sorted(cpus) if cpus else None),
    )


def make_course(root: Path) -> Path:
    """A fresh course folder with this repo's config and source/, nothing generated yet."""
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(COURSE_ROOT / "source", root / "source")
    return root


def _last_error(log: str) -> str:
    """The exception nbgrader's log ends with ('NotJSONError: ...'), else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Timeout)\w*: ", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


# ------------------------------------------------------------------ run records


# The path helpers below take the course's Layout (a GradingContext holds one).


def submission_hash(layout: Layout, student: str) -> str:
    """Hash of everything in submitted/<student>/<assignment>/ (notebook and beside files)."""
    return files_hash(visible_files(layout.folder("submitted", student)))


def write_record(grading: GradingContext, run: GradingRun, *, submission: str) -> None:
    path = grading.layout.run_record(run.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = dict(
        asdict(run),
        assignment=grading.assignment,
        submission_sha256=submission,
        grading_setup_sha256=grading.setup_hash,
        gradebook=gradebook.masked(grading.db_url),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    # Readers (the next run's grading_reason) never see half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def read_record(layout: Layout, student: str) -> dict | None:
    try:
        return json.loads(layout.run_record(student).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def grading_reason(grading: GradingContext, student: str) -> str | None:
    """Why `student` needs grading now ('new', 'submission changed', ...), or None."""
    record = read_record(grading.layout, student)
    if record is None:
        return "not graded yet"
    if record.get("submission_sha256") != submission_hash(grading.layout, student):
        return "submission changed"
    if record.get("grading_setup_sha256") != grading.setup_hash:
        return "hidden tests, config or graders changed"
    if record.get("gradebook") != gradebook.masked(grading.db_url):
        return "graded into another gradebook"
    if not record.get("ok") and record.get("retry"):
        return f"retry: {record.get('reason', '')}"
    if record.get("ok") and not grading.layout.notebook("autograded", student).exists():
        return "autograded notebook missing"
    return None


def recorded_runs(layout: Layout, names) -> list[GradingRun]:
    """The last recorded run of each of `names` that has one."""
    keys = {f.name for f in fields(GradingRun)}
    runs = []
    for student in names:
        record = read_record(layout, student)
        if record is not None:
            runs.append(GradingRun(**{k: v for k, v in record.items() if k in keys}))
    return runs


def write_runs_log(layout: Layout, names) -> Path:
    """reports/<assignment>_runs.json (read by the TA summary): the last run of every one
    of `names`, whether graded in this batch or an earlier one."""
    log = layout.runs_log
    log.parent.mkdir(exist_ok=True)
    log.write_text(json.dumps([asdict(r) for r in recorded_runs(layout, names)], indent=1))
    return log


# ------------------------------------------------------------------ uploads

UPLOAD_NOTE = ".c1w3_upload.json"  # a dot-file: not part of the submission's hash


class UngradableUpload(Exception):
    """The submission folder holds no notebook this assignment can grade; says what it holds."""


def resolve_upload(layout: Layout, student: str) -> str:
    """Make a single misnamed notebook gradable; returns a note for the TA ('' if none).

    Browsers and LMS downloads rename files ('c1w3_convolutions (1).ipynb'). One notebook
    under another name is copied to the assignment's name -- the original stays where it
    is -- and remembered, so a regrade says the same. No notebook, or several and none with
    the assignment's name, raises UngradableUpload naming what was found.
    """
    folder = layout.folder("submitted", student)
    expected = folder / f"{layout.assignment}.ipynb"
    note_file = folder / UPLOAD_NOTE
    if expected.exists():
        try:
            note = json.loads(note_file.read_text())
            if note.get("sha256") == hashlib.sha256(expected.read_bytes()).hexdigest():
                return note["note"]  # the copy made earlier, unchanged since
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return ""
    found = sorted(p.name for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if len(found) == 1:
        shutil.copyfile(folder / found[0], expected)
        note = f"graded `{found[0]}` as {expected.name} (the upload had another name)"
        digest = hashlib.sha256(expected.read_bytes()).hexdigest()
        note_file.write_text(json.dumps({"note": note, "original": found[0], "sha256": digest}))
        return note
    others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if found:
        raise UngradableUpload(
            f"several notebooks and none named {expected.name}: {', '.join(found)}; "
            "rename the one to grade"
        )
    what = ", ".join(others) if others else "nothing"
    raise UngradableUpload(f"no notebook in the submission (found: {what})")


# ------------------------------------------------------------------ grading


def _autograde(grading: GradingContext, student: str, cpus) -> GradingRun:
    start = time.perf_counter()
    limit = grading.limits.process_seconds
    try:
        done = nbgrader(
            grading, "autograde", grading.assignment, "--student", student, "--force",
            timeout=limit, cpus=cpus,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return GradingRun(
            student,
            False,
            time.perf_counter() - start,
            f"stopped after the {limit:g} s limit for one submission",
        )
    except OSError as error:
        return GradingRun(student, False, 0.0, f"could not start nbgrader: {error}", retry=True)
    seconds = time.perf_counter() - start
    if done.returncode < 0:  # the OOM killer, an admin, a node going down
        name = signal.Signals(-done.returncode).name
        return GradingRun(student, False, seconds, f"nbgrader was killed ({name})", retry=True)
    graded = grading.layout.notebook("autograded", student)
    if done.returncode != 0 or not graded.exists():
        log = done.stdout + done.stderr
        retry = bool(INFRASTRUCTURE_ERROR.search(log))
        return GradingRun(student, False, seconds, _last_error(log), retry=retry)
    return GradingRun(student, True, seconds)


def grade_student(
    grading: GradingContext, student: str, *, cpus=None, worker: str | None = None
) -> GradingRun:
    """Autograde one submission in its own nbgrader process (on `cpus` if given), keep an
    ungradable one in the gradebook, and write its run record."""
    try:
        note = resolve_upload(grading.layout, student)
        problem = ""
    except UngradableUpload as exc:
        note, problem = "", str(exc)
    # Hashed before grading: a resubmission that lands mid-grading counts as changed.
    submission = submission_hash(grading.layout, student)
    if problem:
        run = GradingRun(student, False, 0.0, problem)
    else:
        run = _autograde(grading, student, cpus)
    run.note = note
    run.worker = worker or socket.gethostname()
    if not run.ok:
        record_ungraded(grading, student)
    write_record(grading, run, submission=submission)
    return run


def record_ungraded(grading: GradingContext, student: str) -> None:
    """Keep a student whose submission could not be graded in the gradebook, so that
    ``nbgrader export`` lists them with 0 points instead of leaving them out."""
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        gb.update_or_create_student(student)


def grade_class(
    grading: GradingContext, names=None, *, only_missing: bool = False
) -> list[GradingRun]:
    """Autograde every submitted student (or `names`), one after the other; returns one
    GradingRun per student graded (with only_missing: those grading_reason picked)."""
    names = list(names or grading.layout.students())
    todo = [s for s in names if not only_missing or grading_reason(grading, s)]
    runs = []
    for i, student in enumerate(todo, start=1):
        run = grade_student(grading, student)
        runs.append(run)
        status = "ok" if run.ok else f"FAILED: {run.reason}"
        log.info(f"[{i}/{len(todo)}] {student}: {status} ({run.seconds:.0f} s)")
    write_runs_log(grading.layout, names)
    return runs
