"""First run on a fresh machine: the system-package step and the preflight. No training."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest

from course import doctor
from course.context import GradingContext
from course.layout import COURSE_ROOT
from graders import ASSIGNMENT

SCRIPT = COURSE_ROOT / "scripts" / "system-packages"


def _as_plain_user(argv, env):
    """argv as an unprivileged user (runuser when the tests run as root)."""
    if os.geteuid() == 0:
        return [
            "runuser",
            "-u",
            "nobody",
            "--",
            "env",
            "-i",
            *[f"{k}={v}" for k, v in env.items()],
            *argv,
        ]  # noqa: E501
    return ["env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]


@pytest.mark.system
def test_without_root_and_packages_setup_stops_at_once_with_the_apt_line():
    # Under /tmp itself: pytest's own temporary folders are private to root. The plain user
    # runs a copy of the script from there, in that folder: the clone may sit under a folder
    # it cannot enter (a 0700 home such as /root).
    tmp_path = Path(tempfile.mkdtemp(prefix="c1w3-nopkgs-"))
    try:
        bindir = tmp_path / "bin"  # a PATH with the shell and apt-get, and no bwrap or chromium
        bindir.mkdir()
        for tool in ("bash", "id", "env", "apt-get"):
            found = shutil.which(tool)
            if found:
                (bindir / tool).symlink_to(found)
        script = tmp_path / SCRIPT.name
        shutil.copyfile(SCRIPT, script)
        script.chmod(0o755)
        tmp_path.chmod(0o755)
        env = {
            "PATH": str(bindir),
            "HOME": str(tmp_path),
            "KERAS_HOME": str(tmp_path / "keras"),
            "C1W3_SYSTEM_ROOT": str(tmp_path / "empty-root"),
        }
        done = subprocess.run(
            _as_plain_user([str(bindir / "bash"), str(script), "test"], env),
            capture_output=True, text=True, timeout=30, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            "sudo apt-get install -y --no-install-recommends bubblewrap dataset-fashion-mnist "
            "chromium postgresql" in done.stderr
        )
    finally:
        shutil.rmtree(tmp_path)


@pytest.mark.system
def test_with_everything_present_the_step_installs_nothing():
    done = subprocess.run(["bash", str(SCRIPT), "test"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


@pytest.mark.system
def test_doctor_passes_here_and_names_the_sandbox_tier(capsys):
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "ok   sandbox    works" in out and "doctor: ready to grade" in out


def test_doctor_refuses_several_workers_on_sqlite(tmp_path):
    check = doctor.check_gradebook(
        GradingContext.of(tmp_path, db_url=f"sqlite:///{tmp_path}/gradebook.db"), workers=2
    )
    assert not check.ok and "SQLite allows one writer" in check.detail


def test_doctor_names_an_unreachable_database(tmp_path):
    check = doctor.check_gradebook(
        GradingContext.of(COURSE_ROOT, db_url="postgresql://c1w3:x@127.0.0.1:9/none"), 2
    )
    assert not check.ok and "OperationalError" in check.detail


def test_doctor_says_when_the_data_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    check = doctor.check_data()
    assert not check.ok and "make data" in check.detail


def test_a_broken_sandbox_is_a_failed_check_not_a_crash(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    config = (COURSE_ROOT / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(config + '\nc.Sandbox.bwrap = "no-such-bwrap"\n')
    check = doctor.check_sandbox(GradingContext.of(course))
    assert not check.ok and "no-such-bwrap" in check.detail


@pytest.mark.process
def test_before_grading_the_doctor_says_when_make_release_never_ran(tmp_path):
    """`make grade` on a course whose gradebook lacks the assignment stops at the preflight
    with what to run, instead of failing every student one by one."""
    from tests.support.course import make_course, nbgrader_ok

    course = make_course(tmp_path)
    check = doctor.check_released(GradingContext.of(course))
    assert not check.ok and "run `make release`" in check.detail
    nbgrader_ok(course, "db", "assignment", "add", "other_assignment")
    check = doctor.check_released(GradingContext.of(course))
    assert not check.ok and "the gradebook has no assignment 'c1w3_convolutions'" in check.detail
    nbgrader_ok(course, "db", "assignment", "add", "c1w3_convolutions")
    assert doctor.check_released(GradingContext.of(course)).ok


@pytest.mark.process
def test_before_grading_the_doctor_says_when_source_changed_since_the_release(tmp_path):
    """An edit to a locked cell of source/ after `make release`: the gradebook would grade
    against the old cells. The check names the cell; after `make release` it passes."""
    from tests.support.course import make_course, nbgrader_ok

    course = make_course(tmp_path)
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT)
    assert doctor.check_release_current(GradingContext.of(course)).ok
    path = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    cell.source += "\nprint('one more line')"
    nbformat.write(nb, path)
    check = doctor.check_release_current(GradingContext.of(course))
    assert not check.ok and "source/ changed since `make release` (cells setup)" in check.detail
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT, "--force")
    assert doctor.check_release_current(GradingContext.of(course)).ok


@pytest.mark.process
def test_the_scratch_release_never_writes_into_the_gradebook_of_the_environment(
    tmp_path, monkeypatch
):
    """`doctor --released` with $C1W3_DB_URL set: the scratch course it releases into has
    its own SQLite gradebook; the one the variable names is neither created nor written."""
    from course import gradebook
    from tests.support.course import make_course, nbgrader_ok

    (tmp_path / "course").mkdir()
    course = make_course(tmp_path / "course")
    own = gradebook.default_url(course)
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT, db_url=own)
    elsewhere = tmp_path / "elsewhere.db"  # stands for the real (PostgreSQL) gradebook
    monkeypatch.setenv(gradebook.ENV, f"sqlite:///{elsewhere}")
    assert doctor.check_release_current(GradingContext.of(course, db_url=own)).ok
    assert not elsewhere.exists()


def test_the_scratch_release_names_its_own_gradebook(tmp_path, monkeypatch):
    """The same without nbgrader: the scratch release's context is the scratch folder's
    SQLite file, whatever $C1W3_DB_URL says."""
    from course import gradebook, runner

    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    own = gradebook.default_url(course)
    monkeypatch.setenv(gradebook.ENV, f"sqlite:///{tmp_path}/elsewhere.db")
    monkeypatch.setattr(doctor, "_stored_checksums", lambda course, url: {})
    released = []

    def nbgrader(grading, *args):
        released.append((grading, args))
        return subprocess.CompletedProcess(args, 1, "", "stopped here")

    monkeypatch.setattr(runner, "nbgrader", nbgrader)
    check = doctor.check_release_current(GradingContext.of(course, db_url=own))
    assert not check.ok and "stopped here" in check.detail
    [(grading, args)] = released
    assert args == ("generate_assignment", ASSIGNMENT)
    assert grading.root != course and grading.db_url == gradebook.default_url(grading.root)
    assert grading.nbgrader_options() == []  # so no --CourseDirectory.db_url for nbgrader
    assert not (tmp_path / "elsewhere.db").exists()


def test_before_grading_the_doctor_says_when_nothing_was_submitted(tmp_path):
    check = doctor.check_submitted(tmp_path)
    assert not check.ok and "is empty: collect first" in check.detail
    (tmp_path / "submitted" / "ada" / ASSIGNMENT).mkdir(parents=True)
    assert doctor.check_submitted(tmp_path).ok
