"""Grading as a plain user: real ``nbgrader autograde`` in the sandbox tier an unprivileged
grader gets on its own (here the user-namespace tier: no cgroup, rlimits and a watchdog).

The user (``c1w3grader``, created if missing when the tests run as root) owns a course folder
in /tmp and grades honest students first, then the hostile submissions whose limits the
user-namespace tier enforces differently from the cgroup tier (memory, processes, disk) and
the one that reaches for everything outside its working copy. Each gets the score the hostile
class table promises, and the honest students' files and gradebook rows are byte-for-byte the
same after the attackers were graded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from course.layout import COURSE_ROOT, load_config
from course.sandbox import Sandbox
from graders import ASSIGNMENT
from scenarios import hostile_class, sample_class
from tests.support.course import CACHE_DIRNAME, make_course
from tests.support.snapshots import course_snapshot, notebook_outputs
from tests.support.users import as_plain_user, chown, plain_user, user_dir

pytestmark = pytest.mark.slow
HONEST = [hostile_class.VICTIM, "passes_all"]  # passes_all: the one honest trainer
ATTACKERS = ["memory_hog", "fork_bomb", "disk_filler", "reaches_outside_working_copy"]

GRADE = """
import json, logging, sys
from pathlib import Path
from course import runner, sandbox
from course.context import GradingContext
from scenarios import hostile_class, sample_class
from graders import ASSIGNMENT
course, step, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
grading = GradingContext.of(course)
if step == "honest":
    done = runner.nbgrader(grading, "generate_assignment", ASSIGNMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    sample_class.write_class(course, names, release_root=course)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
runs = runner.grade_class(grading, names)
result = {"tier": sandbox.tier()[0], "runs": {r.student: [r.ok, r.seconds, r.reason] for r in runs}}
print(json.dumps(result))
"""


@dataclass
class PlainBatch:
    course: Path
    tiers: list[str]
    runs: dict[str, list]
    before: dict
    after: dict
    gradebook: Path  # a copy, read as root (the original stays the plain user's)


def _grade_as(user, course: Path, step: str, names: list[str]) -> dict:
    done = subprocess.run(
        as_plain_user([sys.executable, "-c", GRADE, str(course), step, *names], user),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    print(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _gradebook_copy(course: Path, into: Path) -> str:
    copy = into / f"gradebook-{time.monotonic_ns()}.db"
    shutil.copyfile(course / "gradebook.db", copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def plain_batch(training_cache):
    user = plain_user()
    course = user_dir(user, prefix="c1w3-plain-course-")
    copies = Path(tempfile.mkdtemp(prefix="c1w3-plain-gradebooks-"))
    make_course(course)
    # The honest student reuses the instructor's training, as in a real course after `make warm`.
    shutil.copytree(training_cache, course / CACHE_DIRNAME)
    chown(course, user)
    start = time.perf_counter()
    honest = _grade_as(user, course, "honest", HONEST)

    def snapshot():
        return course_snapshot(course, _gradebook_copy(course, copies), HONEST)

    hostile_class.write_class(course, ATTACKERS, release_root=course)
    chown(course / "submitted", user)
    before = snapshot()  # the attackers' own submissions included
    hostile = _grade_as(user, course, "hostile", ATTACKERS)
    after = snapshot()
    print(
        f"graded {len(HONEST) + len(ATTACKERS)} as {user.pw_name} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    for student, (ok, seconds, reason) in {**honest["runs"], **hostile["runs"]}.items():
        print(f"  {student}: {'ok' if ok else reason} ({seconds:.0f} s)")
    copy = Path(_gradebook_copy(course, copies).removeprefix("sqlite:///"))
    yield PlainBatch(
        course,
        [honest["tier"], hostile["tier"]],
        {**honest["runs"], **hostile["runs"]},
        before,
        after,
        copy,
    )
    shutil.rmtree(course, ignore_errors=True)
    shutil.rmtree(copies, ignore_errors=True)


def test_graded_in_the_user_namespace_tier_and_everyone_has_a_grade(plain_batch):
    assert set(plain_batch.tiers) <= {"userns", "systemd"}, plain_batch.tiers
    assert set(plain_batch.runs) == set(HONEST) | set(ATTACKERS)
    not_graded = {s: r[2] for s, r in plain_batch.runs.items() if not r[0]}
    assert not not_graded, not_graded


@pytest.mark.parametrize("student", HONEST + ATTACKERS)
def test_same_scores_as_in_the_cgroup_tier(plain_batch, student):
    if student in hostile_class.HOSTILE_CLASS:
        expected = hostile_class.HOSTILE_CLASS[student][1]
    else:
        expected = sample_class.SAMPLE_CLASS[student][1]
    with Gradebook(f"sqlite:///{plain_batch.gradebook}") as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        got = {g.name: g.auto_score for g in nb.grades if g.name in expected}
    assert got == pytest.approx(expected, abs=0.005), student


def test_other_students_and_the_course_are_untouched(plain_batch):
    before, after = plain_batch.before, plain_batch.after
    changed = [p for p in before["files"] if before["files"][p] != after["files"].get(p)]
    added = sorted(set(after["files"]) - set(before["files"]))
    assert not changed and not added, (changed, added)
    assert after["gradebook"] == before["gradebook"]


# The course's limits, as the graded class ran with them (traitlet defaults: course/knobs.py).
LIMITS = Sandbox(config=load_config(COURSE_ROOT))


@pytest.mark.parametrize(
    "student, words",
    [
        ("memory_hog", f"the memory limit of {LIMITS.memory_mb} MB was exceeded"),
        ("disk_filler", f"the disk limit of {LIMITS.disk_mb} MB was exceeded"),
        ("fork_bomb", "blocked (BlockingIOError"),
        ("reaches_outside_working_copy", "reach a public DNS server: blocked"),
    ],
)
def test_each_stop_is_explained_in_the_notebook(plain_batch, student, words):
    assert words in notebook_outputs(plain_batch.course, student)
