"""The hostile class graded in one batch with real nbgrader (Dask, 2 workers, PostgreSQL),
beside honest students.

Every attack: no inflated grade, other students unaffected (their files and gradebook rows
byte-for-byte the same before and after the attackers were graded), the course's own files
unchanged, and the batch completes with a recorded grade for everyone.
"""

from __future__ import annotations

import compileall
import csv
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from course import audit, integrity, runner, summary
from course.context import GradingContext
from course.layout import COURSE_ROOT, load_config
from course.nbgrader_plugins import SandboxedExecute
from course.sandbox import Sandbox
from graders import ASSIGNMENT
from scenarios import hostile_class, sample_class
from tests.support.course import grade_on_dask, make_warm_course, nbgrader_ok
from tests.support.snapshots import course_snapshot, notebook_outputs

pytestmark = pytest.mark.slow
HONEST = [hostile_class.VICTIM, "untouched_release"]


@dataclass
class HostileBatch:
    course: Path
    db_url: str
    runs: dict[str, runner.GradingRun]
    before: dict
    after: dict


@pytest.fixture(scope="session")
def hostile_batch(tmp_path_factory, fresh_database, training_cache) -> HostileBatch:
    # Bytecode for every graders module now: otherwise the other xdist worker (or any
    # process importing graders for the first time) writes graders/__pycache__/ during the
    # batch, and the snapshot below takes that for an attack on the graders package.
    compileall.compile_dir(COURSE_ROOT / "graders", quiet=1)
    course = make_warm_course(tmp_path_factory.mktemp("hostile"), training_cache)
    url = fresh_database()
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT, db_url=url)
    sample_class.write_class(course, HONEST, release_root=course)
    grade_on_dask(course, HONEST, url)
    names = hostile_class.write_class(course, release_root=course)

    def snapshot():
        return course_snapshot(course, url, HONEST)

    before = snapshot()
    runs = grade_on_dask(course, names, url)
    after = snapshot()
    nbgrader_ok(course, "generate_feedback", ASSIGNMENT, db_url=url)
    nbgrader_ok(course, "export", "--to", str(course / "grades.csv"), db_url=url)
    return HostileBatch(course, url, runs, before, after)


def test_batch_completes_with_a_grade_for_everyone(hostile_batch):
    assert set(hostile_batch.runs) == set(hostile_class.HOSTILE_CLASS)
    not_graded = {s: r.reason for s, r in hostile_batch.runs.items() if not r.ok}
    assert not not_graded, not_graded
    with open(hostile_batch.course / "grades.csv") as fh:
        exported = {row["student_id"] for row in csv.DictReader(fh)}
    assert exported >= set(HONEST) | set(hostile_class.HOSTILE_CLASS)


@pytest.mark.parametrize("student", sorted(hostile_class.HOSTILE_CLASS))
def test_no_attack_raises_a_grade(hostile_batch, student):
    _, expected = hostile_class.HOSTILE_CLASS[student]
    with Gradebook(hostile_batch.db_url) as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        got = {g.name: g.auto_score for g in nb.grades if g.name in expected}
    assert got == pytest.approx(expected), student


def test_other_students_and_the_course_are_untouched(hostile_batch):
    before, after = hostile_batch.before, hostile_batch.after
    changed = [p for p in before["files"] if before["files"][p] != after["files"].get(p)]
    added = sorted(set(after["files"]) - set(before["files"]))
    assert not changed and not added, (changed, added)
    assert after["gradebook"] == before["gradebook"]


def test_integrity_report_names_the_patched_kernels(hostile_batch):
    flagged = {
        student
        for student in hostile_class.HOSTILE_CLASS
        if (integrity.record(hostile_batch.course, student) or {}).get("flags")
    }
    assert flagged == hostile_class.FLAGGED
    grading = GradingContext.of(hostile_batch.course, db_url=hostile_batch.db_url)
    text = summary.write_summary(grading).read_text()
    for student in hostile_class.FLAGGED:
        lines = [line for line in text.splitlines() if f"**{student}**: " in line]
        assert any("integrity: " in line for line in lines), (student, lines)


# The course's limits, as the graded class ran with them (traitlet defaults: course/knobs.py).
LIMITS = Sandbox(config=load_config(COURSE_ROOT))
OUTPUT_KB = SandboxedExecute(config=load_config(COURSE_ROOT)).max_output_kb


@pytest.mark.parametrize(
    "student, words",
    [
        ("memory_hog", f"the memory limit of {LIMITS.memory_mb} MB was exceeded"),
        ("kills_the_kernel", "the notebook's kernel died"),
        ("disk_filler", f"the disk limit of {LIMITS.disk_mb} MB was exceeded"),
        ("sleeps_forever", "the kernel stopped responding after the cell's time limit"),
        ("output_flood", f"output beyond {OUTPUT_KB} KB dropped by the grader"),
        ("fork_bomb", "blocked (BlockingIOError"),
        ("reaches_outside_working_copy", "reach a public DNS server: blocked"),
        ("trains_on_test_split", "it has been trained on the test set"),
    ],
)
def test_each_stop_is_explained_in_the_notebook(hostile_batch, student, words):
    assert words in notebook_outputs(hostile_batch.course, student)


def test_the_attacks_that_reach_for_course_files_are_blocked(hostile_batch):
    text = notebook_outputs(hostile_batch.course, "reaches_outside_working_copy")
    for attack in (
        "overwrite another student's submission",
        "write into another student's autograded folder",
        "patch the graders package",
        "connect to PostgreSQL on 127.0.0.1:5432",
        "connect to PostgreSQL's unix socket",
        "open a web page",
    ):
        line = next(line for line in text.splitlines() if f"ATTACK {attack}:" in line)
        assert "blocked" in line, line


def test_the_cache_audit_blames_a_submission_that_changes_when_trained_for_real(hostile_batch):
    """Its hit scored full marks; retrained for real (the audit, cache off) its saved weights
    differ. The cache's entries retrained on their own are identical, so the cache stays on
    for everyone, the student is flagged and keeps the real training's grade."""
    student = "changes_when_trained_for_real"
    course, url = hostile_batch.course, hostile_batch.db_url
    run = hostile_batch.runs[student]
    grading = GradingContext.of(course, db_url=url)
    assert audit.hit_keys(grading.layout.grading_dir(student)), "not a cache hit"
    result = audit.audit_batch(grading, [run], fraction=1.0, seed=0)
    assert result.audited == {student: audit.WEIGHTS_DIFFER}
    # only the entry its saved conv_model came from (not the dense baseline's) is retrained
    assert len(result.hits[student]) == 2 and len(result.entries) == 1
    assert set(result.entries) < set(result.hits[student])
    assert set(result.entries.values()) == {"identical"}, result.entries
    assert result.flagged == {student: audit.WEIGHTS_DIFFER} and not result.disabled
    assert not (course / ".training_cache" / "DISABLED").exists()
    assert "ATTACK trained for real" in notebook_outputs(course, student)
    _, expected = hostile_class.HOSTILE_CLASS[student]
    with Gradebook(url) as gb:  # graded on the real training: the same points
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        assert {g.name: g.auto_score for g in nb.grades if g.name in expected} == expected
    text = summary.write_summary(grading).read_text()
    flags = [line for line in text.splitlines() if line.startswith(f"- **{student}**: ")]
    assert flags and "the cache audit trained this submission for real" in flags[0], flags
    assert "cache kept" in text and "retrained on its own: identical" in text
