"""Grade submissions one student at a time, each in its own ``nbgrader autograde`` process.

One process per submission is the seam that makes a batch robust: a submission that
crashes nbgrader, hangs past its wall-time limit or breaks its notebook file costs only
its own grade, which is then recorded with the reason (never silently missing).

After each grading this (parent) process writes a small record,
``reports/runs/<assignment>/<student>.json``: the hash of what was graded, the outcome and
where it ran. :func:`needs_grading` reads it, so a re-run grades only what is missing or
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

import graders
from course import gradebook
from course.layout import Layout
from graders import ASSIGNMENT, COURSE_ROOT, settings

# Progress of a batch: one line per student (the commands show it: course/__main__.py).
log = logging.getLogger("course.grading")


def show_progress() -> None:
    """For the commands: progress lines on stdout, as they come."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)


# Whole-submission wall time: two training cells (600 s each at most) plus the rest.
SUBMISSION_TIMEOUT_S = float(os.environ.get("C1W3_SUBMISSION_TIMEOUT", "1500"))

# Failures that say nothing about the submission: the machine or the database let the
# grader down. needs_grading() retries these; a submission's own failure (broken file,
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


# A grade must not depend on which worker graded it (graders/settings.py, TF_THREADS).
TF_THREADS = settings.TF_THREADS


def thread_env(cpus=None) -> dict[str, str]:
    """TensorFlow's pools (TF 2.21 reads these two variables; checked: 1/1 -> 2 tf_Compute
    threads, 8/8 -> 9) at the fixed TF_THREADS; numpy's OpenBLAS sized to the share."""
    env = {"TF_NUM_INTRAOP_THREADS": TF_THREADS, "TF_NUM_INTEROP_THREADS": TF_THREADS}
    if cpus:
        env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(len(cpus))
    return env


def nbgrader(
    course_root: Path,
    *args: str,
    timeout: float | None = None,
    db_url: str | None = None,
    cpus=None,
):
    """Run one nbgrader command in the course folder with this environment's tools, on the
    gradebook `db_url` (default: gradebook.db_url), pinned to `cpus` if given."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    # The student's kernel inherits this environment: it gets no database address from it.
    env.pop(gradebook.ENV, None)
    env.update(thread_env(cpus))
    url = gradebook.normalize(db_url or gradebook.db_url(course_root))
    if url != gradebook.default_url(course_root):
        args = (*args, f"--CourseDirectory.db_url={url}")
    return subprocess.run(
        [str(Path(bindir) / "nbgrader"), *args],
        cwd=course_root,
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


def students(course_root: Path, assignment: str = ASSIGNMENT) -> list[str]:
    return Layout(course_root, assignment).students()


def _last_error(log: str) -> str:
    """The exception nbgrader's log ends with ('NotJSONError: ...'), else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Timeout)\w*: ", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


# ------------------------------------------------------------------ run records


def _files_hash(paths_under: list[tuple[Path, Path]]) -> str:
    """sha256 over (relative path, bytes) of each file, in a stable order."""
    digest = hashlib.sha256()
    for base, path in sorted(paths_under, key=lambda bp: str(bp[1])):
        digest.update(str(path.relative_to(base)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _visible_files(folder: Path) -> list[tuple[Path, Path]]:
    # .ipynb_checkpoints and other dot-folders are not part of what a student submits
    return [
        (folder, p)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]


def submission_hash(course_root: Path, student: str, assignment: str = ASSIGNMENT) -> str:
    """Hash of everything in submitted/<student>/<assignment>/ (notebook and beside files)."""
    return _files_hash(_visible_files(Layout(course_root, assignment).folder("submitted", student)))


def grading_setup_hash(course_root: Path, assignment: str = ASSIGNMENT) -> str:
    """Hash of what decides the points besides the submission: the source notebook (its
    hidden tests), nbgrader_config.py and the graders package. A fixed hidden test must
    regrade everyone, or only-missing grading would keep grades from the old tests."""
    course_root = Path(course_root)
    files = _visible_files(Layout(course_root, assignment).folder("source"))
    config = course_root / "nbgrader_config.py"
    if config.exists():
        files.append((course_root, config))
    package = Path(graders.__file__).parent
    files += [(package.parent, p) for p in package.glob("*.py")]
    return _files_hash(files)


def record_path(course_root: Path, student: str, assignment: str = ASSIGNMENT) -> Path:
    return Layout(course_root, assignment).run_record(student)


def write_record(
    course_root: Path,
    run: GradingRun,
    *,
    assignment: str = ASSIGNMENT,
    submission: str,
    setup: str,
    db_url: str,
) -> None:
    path = record_path(course_root, run.student, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = dict(
        asdict(run),
        assignment=assignment,
        submission_sha256=submission,
        grading_setup_sha256=setup,
        gradebook=gradebook.masked(db_url),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    # Readers (the next run's needs_grading) never see half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def read_record(course_root: Path, student: str, assignment: str = ASSIGNMENT) -> dict | None:
    try:
        return json.loads(record_path(course_root, student, assignment).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def grading_reason(
    course_root: Path, student: str, assignment: str = ASSIGNMENT, db_url: str | None = None
) -> str | None:
    """Why `student` needs grading now ('new', 'submission changed', ...), or None."""
    course_root = Path(course_root)
    record = read_record(course_root, student, assignment)
    if record is None:
        return "not graded yet"
    if record.get("submission_sha256") != submission_hash(course_root, student, assignment):
        return "submission changed"
    if record.get("grading_setup_sha256") != grading_setup_hash(course_root, assignment):
        return "hidden tests, config or graders changed"
    url = gradebook.normalize(db_url or gradebook.db_url(course_root))
    if record.get("gradebook") != gradebook.masked(url):
        return "graded into another gradebook"
    if not record.get("ok") and record.get("retry"):
        return f"retry: {record.get('reason', '')}"
    graded = Layout(course_root, assignment).notebook("autograded", student)
    if record.get("ok") and not graded.exists():
        return "autograded notebook missing"
    return None


def needs_grading(
    course_root: Path, student: str, assignment: str = ASSIGNMENT, db_url: str | None = None
) -> bool:
    return grading_reason(course_root, student, assignment, db_url) is not None


def recorded_runs(course_root: Path, names, assignment: str = ASSIGNMENT) -> list[GradingRun]:
    """The last recorded run of each of `names` that has one."""
    keys = {f.name for f in fields(GradingRun)}
    runs = []
    for student in names:
        record = read_record(course_root, student, assignment)
        if record is not None:
            runs.append(GradingRun(**{k: v for k, v in record.items() if k in keys}))
    return runs


def write_runs_log(course_root: Path, names, assignment: str = ASSIGNMENT) -> Path:
    """reports/<assignment>_runs.json (read by the TA summary): the last run of every one
    of `names`, whether graded in this batch or an earlier one."""
    log = Layout(course_root, assignment).runs_log
    log.parent.mkdir(exist_ok=True)
    log.write_text(
        json.dumps([asdict(r) for r in recorded_runs(course_root, names, assignment)], indent=1)
    )
    return log


# ------------------------------------------------------------------ uploads

UPLOAD_NOTE = ".c1w3_upload.json"  # a dot-file: not part of the submission's hash


class UngradableUpload(Exception):
    """The submission folder holds no notebook this assignment can grade; says what it holds."""


def resolve_upload(course_root: Path, student: str, assignment: str = ASSIGNMENT) -> str:
    """Make a single misnamed notebook gradable; returns a note for the TA ('' if none).

    Browsers and LMS downloads rename files ('c1w3_convolutions (1).ipynb'). One notebook
    under another name is copied to the assignment's name -- the original stays where it
    is -- and remembered, so a regrade says the same. No notebook, or several and none with
    the assignment's name, raises UngradableUpload naming what was found.
    """
    folder = Layout(course_root, assignment).folder("submitted", student)
    expected = folder / f"{assignment}.ipynb"
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


def _autograde(course_root, student, assignment, db_url, cpus) -> GradingRun:
    start = time.perf_counter()
    try:
        done = nbgrader(
            course_root,
            "autograde",
            assignment,
            "--student",
            student,
            "--force",
            timeout=SUBMISSION_TIMEOUT_S,
            db_url=db_url,
            cpus=cpus,
        )
    except subprocess.TimeoutExpired:
        return GradingRun(
            student,
            False,
            time.perf_counter() - start,
            f"stopped after the {SUBMISSION_TIMEOUT_S:g} s limit for one submission",
        )
    except OSError as error:
        return GradingRun(student, False, 0.0, f"could not start nbgrader: {error}", retry=True)
    seconds = time.perf_counter() - start
    if done.returncode < 0:  # the OOM killer, an admin, a node going down
        name = signal.Signals(-done.returncode).name
        return GradingRun(student, False, seconds, f"nbgrader was killed ({name})", retry=True)
    graded = Layout(course_root, assignment).notebook("autograded", student)
    if done.returncode != 0 or not graded.exists():
        log = done.stdout + done.stderr
        retry = bool(INFRASTRUCTURE_ERROR.search(log))
        return GradingRun(student, False, seconds, _last_error(log), retry=retry)
    return GradingRun(student, True, seconds)


def grade_student(
    course_root: Path,
    student: str,
    assignment: str = ASSIGNMENT,
    *,
    db_url: str | None = None,
    cpus=None,
    worker: str | None = None,
) -> GradingRun:
    """Autograde one submission in its own nbgrader process (on `cpus` if given), keep an
    ungradable one in the gradebook, and write its run record."""
    course_root = Path(course_root)
    url = gradebook.normalize(db_url or gradebook.db_url(course_root))
    try:
        note = resolve_upload(course_root, student, assignment)
        problem = ""
    except UngradableUpload as exc:
        note, problem = "", str(exc)
    # Hashed before grading: a resubmission that lands mid-grading counts as changed.
    submission = submission_hash(course_root, student, assignment)
    setup = grading_setup_hash(course_root, assignment)
    if problem:
        run = GradingRun(student, False, 0.0, problem)
    else:
        run = _autograde(course_root, student, assignment, url, cpus)
    run.note = note
    run.worker = worker or socket.gethostname()
    if not run.ok:
        record_ungraded(course_root, student, url)
    write_record(
        course_root, run, assignment=assignment, submission=submission, setup=setup, db_url=url
    )
    return run


def record_ungraded(course_root: Path, student: str, db_url: str | None = None) -> None:
    """Keep a student whose submission could not be graded in the gradebook, so that
    ``nbgrader export`` lists them with 0 points instead of leaving them out."""
    with gradebook.open_gradebook(course_root, db_url) as gb:
        gb.update_or_create_student(student)


def grade_class(
    course_root: Path,
    names=None,
    assignment: str = ASSIGNMENT,
    *,
    db_url: str | None = None,
    only_missing: bool = False,
) -> list[GradingRun]:
    """Autograde every submitted student (or `names`), one after the other; returns one
    GradingRun per student graded (with only_missing: those needs_grading picked)."""
    course_root = Path(course_root)
    names = list(names or students(course_root, assignment))
    todo = [
        s for s in names if not only_missing or needs_grading(course_root, s, assignment, db_url)
    ]
    runs = []
    for i, student in enumerate(todo, start=1):
        run = grade_student(course_root, student, assignment, db_url=db_url)
        runs.append(run)
        status = "ok" if run.ok else f"FAILED: {run.reason}"
        log.info(f"[{i}/{len(todo)}] {student}: {status} ({run.seconds:.0f} s)")
    write_runs_log(course_root, names, assignment)
    return runs
