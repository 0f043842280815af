"""Canvas and Moodle in and out (course/lms/): zips built by
tests/fixtures/lms/make_fixture_zips.py in tmp_path, the rosters and the golden CSVs in
tests/fixtures/lms/, a real nbgrader gradebook (SQLite in tmp_path) written through
nbgrader.api. Fast: no training, no TensorFlow, no autograde.

Set C1W3_UPDATE_GOLDEN=1 to rewrite the golden CSVs after an intended change (then read
the diff)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import gradebook, lms
from course.layout import COURSE_ROOT
from graders import ASSIGNMENT
from tests.fixtures.lms import make_fixture_zips as fx

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lms"
NB = f"{ASSIGNMENT}.ipynb"
NB1 = f"{ASSIGNMENT}-1.ipynb"
# nbgrader's own Gradebook.add_submission trips SQLAlchemy 2's autoflush warnings.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


@pytest.fixture
def course(tmp_path, monkeypatch) -> Path:
    """A course folder: this repo's nbgrader_config.py and release/ (nbgrader's zip_collect
    reads the released notebook names). nbgrader's Gradebook runs `alembic` by name."""
    bindir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv(gradebook.ENV, raising=False)
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root)
    shutil.copytree(COURSE_ROOT / "release" / ASSIGNMENT, root / "release" / ASSIGNMENT)
    return root


def submitted_tree(course: Path) -> dict[str, bytes]:
    base = course / "submitted"
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def sub(student: str, name: str) -> str:
    return f"{student}/{ASSIGNMENT}/{name}"


CANVAS_AFTER_FIRST = {
    sub("asmith", NB): fx.notebook("asmith late"),
    sub("asmith", "timestamp.txt"): b"2025-10-16 09:00:00",
    sub("bnguyen", NB): fx.notebook("bnguyen v1"),
    sub("crojas", NB1): fx.notebook("crojas second upload"),
    sub("jdoe", NB): fx.notebook("jdoe v1"),
    sub("sobrien", NB): fx.notebook("sobrien"),
}

CANVAS_NOT_COLLECTED = [
    (
        "anon_x7Kp2_900010_c1w3_convolutions.ipynb",
        "anonymous grading: Canvas wrote no user id; download again after turning anonymity off",
    ),
    (
        "c1w3_convolutions.ipynb",
        "name does not follow Canvas's scheme <name>[_LATE]_<user id>_<attachment id>_<file>",
    ),
    ("doejane_4242_900007_screenshot.png", "not a notebook (from jdoe): '.png'; collected: .ipynb"),
    ("grading_notes.txt", "not a notebook: '.txt'; collected: .ipynb"),
    (
        "stranger_5555_900008_c1w3_convolutions.ipynb",
        "not in the roster: Canvas user id 5555 (stranger) is in no row's ID column",
    ),
    (
        "studenttest_4299_900009_c1w3_convolutions.ipynb",
        "roster row 'Student, Test': SIS Login ID is empty",
    ),
]


def actions(report) -> dict[str, str]:
    return {f"{o.student}/{o.file}": o.action for o in report.outcomes}


# ------------------------------------------------------------------------------ Canvas in


def test_canvas_zip_lands_in_submitted_and_every_skip_has_a_reason(course, tmp_path):
    report = lms.collect(course, fx.canvas_first(tmp_path / "a.zip"), fx.CANVAS_ROSTER)

    assert submitted_tree(course) == CANVAS_AFTER_FIRST
    assert report.lms == "canvas" and report.roster.id_column == "SIS Login ID"
    assert report.not_collected == CANVAS_NOT_COLLECTED
    # every entry of the zip is accounted for: collected, superseded or not collected
    accounted = {o.entry for o in report.outcomes if o.entry} | {e for e, _ in report.not_collected}
    assert accounted == set(fx.CANVAS_FIRST)
    assert actions(report) == {
        "asmith/c1w3_convolutions.ipynb": "new",
        "asmith/timestamp.txt": "timestamp",
        "bnguyen/c1w3_convolutions.ipynb": "new",
        "crojas/c1w3_convolutions.ipynb": "superseded",  # the earlier of two uploads
        "crojas/c1w3_convolutions-1.ipynb": "new",
        "jdoe/c1w3_convolutions.ipynb": "new",
        "sobrien/c1w3_convolutions.ipynb": "new",
    }
    text = report.format()
    assert "6 not collected" in text and "stranger_5555_900008" in text
    # nothing of the unzipping stays in the course folder
    assert sorted(p.name for p in course.iterdir()) == [
        "nbgrader_config.py",
        "release",
        "submitted",
    ]


def test_a_newer_canvas_zip_changes_only_what_changed(course, tmp_path):
    lms.collect(course, fx.canvas_first(tmp_path / "a.zip"), fx.CANVAS_ROSTER)
    base = course / "submitted"
    untouched = [sub("jdoe", NB), sub("asmith", NB), sub("asmith", "timestamp.txt")]
    before = {f: (base / f).stat() for f in untouched}

    report = lms.collect(course, fx.canvas_second(tmp_path / "b.zip"), fx.CANVAS_ROSTER)

    assert submitted_tree(course) == {
        sub("asmith", NB): fx.notebook("asmith late"),
        sub("asmith", "timestamp.txt"): b"2025-10-16 09:00:00",  # same submission: kept
        sub("bnguyen", NB1): fx.notebook("bnguyen v2"),  # resubmitted late: replaces v1
        sub("bnguyen", "timestamp.txt"): b"2025-10-18 12:00:00",
        sub("crojas", NB1): fx.notebook("crojas second upload"),
        sub("dlee", NB): fx.notebook("dlee"),
        sub("jdoe", NB): fx.notebook("jdoe v1"),
        sub("sobrien", NB): fx.notebook("sobrien"),
    }
    for f, stat in before.items():
        now = (base / f).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), f
    assert report.not_collected == []
    assert actions(report) == {
        "asmith/c1w3_convolutions.ipynb": "unchanged",
        "bnguyen/c1w3_convolutions-1.ipynb": "new",
        "bnguyen/c1w3_convolutions.ipynb": "removed",
        "bnguyen/timestamp.txt": "timestamp",
        "crojas/c1w3_convolutions.ipynb": "superseded",
        "crojas/c1w3_convolutions-1.ipynb": "unchanged",
        "dlee/c1w3_convolutions.ipynb": "new",
        "jdoe/c1w3_convolutions.ipynb": "unchanged",
        "sobrien/c1w3_convolutions.ipynb": "unchanged",
    }


def test_an_older_zip_does_not_replace_a_newer_submission_unless_forced(course, tmp_path):
    first, second = fx.canvas_first(tmp_path / "a.zip"), fx.canvas_second(tmp_path / "b.zip")
    lms.collect(course, first, fx.CANVAS_ROSTER)
    lms.collect(course, second, fx.CANVAS_ROSTER)
    after_second = submitted_tree(course)

    again = lms.collect(course, first, fx.CANVAS_ROSTER)
    assert submitted_tree(course) == after_second
    kept = again.actions("kept")
    assert [(o.student, o.file) for o in kept] == [("bnguyen", NB)]
    assert "submitted/ holds a newer submission" in kept[0].detail

    lms.collect(course, first, fx.CANVAS_ROSTER, force=True)
    tree = submitted_tree(course)
    assert tree[sub("bnguyen", NB)] == fx.notebook("bnguyen v1")
    assert sub("bnguyen", NB1) not in tree and sub("bnguyen", "timestamp.txt") not in tree


def test_timestamps_all_and_none(course, tmp_path):
    zipped = fx.canvas_first(tmp_path / "a.zip")
    lms.collect(course, zipped, fx.CANVAS_ROSTER, timestamps="all")
    stamps = {k: v for k, v in submitted_tree(course).items() if k.endswith("timestamp.txt")}
    assert stamps == {
        sub(s, "timestamp.txt"): b"2025-10-16 09:00:00"
        for s in ("asmith", "bnguyen", "crojas", "jdoe", "sobrien")
    }
    for name, kwargs in {
        "none": {"timestamps": "none"},
        "berlin": {"zip_timezone": "Europe/Berlin"},
    }.items():
        other = course.parent / name
        shutil.copytree(course, other, ignore=shutil.ignore_patterns("submitted"))
        lms.collect(other, zipped, fx.CANVAS_ROSTER, **kwargs)
    assert not [k for k in submitted_tree(course.parent / "none") if k.endswith("timestamp.txt")]
    # the entry time is read in the given zone: 09:00 in Berlin (CEST) is 07:00 UTC
    stamp = course.parent / "berlin" / "submitted" / sub("asmith", "timestamp.txt")
    assert stamp.read_text() == "2025-10-16 07:00:00"


@pytest.mark.process
def test_stock_nbgrader_zip_collect_runs_the_same_plugins(course, tmp_path):
    """`nbgrader zip_collect --collector=course.lms.CanvasCollector` works with nbgrader's own
    app; it copies every upload (no newest-only) and clears folders (no in-place update)."""
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    fx.canvas_first(archive / "canvas.zip")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "nbgrader"),
            "zip_collect",
            ASSIGNMENT,
            "--extractor=course.lms.EntryTimesExtractor",
            "--collector=course.lms.CanvasCollector",
            f"--LmsCollector.roster={fx.CANVAS_ROSTER}",
        ],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    expected = dict(CANVAS_AFTER_FIRST)
    expected[sub("crojas", NB)] = fx.notebook("crojas first upload")
    assert submitted_tree(course) == expected


# ------------------------------------------------------------------------------ Moodle in

MOODLE_AFTER = {
    sub("alex.smith@example.edu", NB): fx.notebook("alex"),
    sub("jane.doe@example.edu", NB): fx.notebook("jane"),
    sub("jose.nunez@example.edu", "C1W3 convolutions (1).ipynb"): fx.notebook("jose"),
}


@pytest.mark.parametrize("folders", [True, False], ids=["folders", "flat"])
def test_moodle_zip_matches_by_full_name(course, tmp_path, folders):
    report = lms.collect(course, fx.moodle(tmp_path / "m.zip", folders=folders), fx.MOODLE_ROSTER)

    assert submitted_tree(course) == MOODLE_AFTER  # no LATE mark in Moodle: no timestamp.txt
    assert report.warnings == [
        "jose.nunez@example.edu: C1W3 convolutions (1).ipynb is not named "
        "c1w3_convolutions.ipynb (kept as is)"
    ]
    assert report.lms == "moodle" and report.roster.id_column == "Email address"
    sep = "/" if folders else ""
    assert report.not_collected == [
        (
            f"Alex Smith_1790003_assignsubmission_onlinetext_{sep}onlinetext.html",
            "not a notebook (from alex.smith@example.edu): '.html'; collected: .ipynb",
        ),
        (
            f"Participant_1790006_assignsubmission_file_{sep}c1w3_convolutions.ipynb",
            "blind marking: Moodle wrote no name; reveal student identities, then download",
        ),
        (
            f"Pat Unknown_1790005_assignsubmission_file_{sep}c1w3_convolutions.ipynb",
            "not in the roster: no row named 'Pat Unknown'",
        ),
        (
            f"Sam Taylor_1790004_assignsubmission_file_{sep}c1w3_convolutions.ipynb",
            "ambiguous: 2 roster rows are named 'Sam Taylor' "
            "(sam.taylor@example.edu, sam.taylor2@example.edu)",
        ),
    ]


def test_moodle_with_another_id_column(course, tmp_path):
    report = lms.collect(
        course,
        fx.moodle(tmp_path / "m.zip"),
        fx.MOODLE_ROSTER,
        id_column="ID number",
        timestamps="all",
    )
    assert submitted_tree(course) == {
        sub("20251001", NB): fx.notebook("jane"),
        sub("20251001", "timestamp.txt"): b"2025-10-16 09:00:00",
        sub("20251002", "C1W3 convolutions (1).ipynb"): fx.notebook("jose"),
        sub("20251002", "timestamp.txt"): b"2025-10-16 09:00:00",
    }
    assert (
        "Alex Smith_1790003_assignsubmission_file_/c1w3_convolutions.ipynb",
        "roster row 'Alex Smith': ID number is empty",
    ) in report.not_collected


# --------------------------------------------------------------------------------- roster


def test_roster_reading(tmp_path):
    canvas = lms.read_roster(fx.CANVAS_ROSTER)
    assert canvas.lms == "canvas"
    # the Manual Posting and Points Possible rows are not students
    assert [s.student_id for s in canvas.students] == [
        "jdoe", "asmith", "bnguyen", "crojas", "dlee", "sobrien", "",
    ]  # fmt: skip
    moodle = lms.read_roster(fx.MOODLE_ROSTER)  # UTF-8 with a BOM, as Excel saves it
    assert moodle.lms == "moodle" and moodle.columns[0] == "First name"
    assert moodle.students[1].row["First name"] == "José"

    with pytest.raises(lms.LmsError, match="no column 'Username'"):
        lms.read_roster(fx.CANVAS_ROSTER, id_column="Username")
    other = tmp_path / "other.csv"
    other.write_text("name,score\nx,1\n")
    with pytest.raises(lms.LmsError, match="neither a Canvas gradebook export"):
        lms.read_roster(other)
    with pytest.raises(lms.LmsError, match="needs columns"):
        lms.read_roster(fx.MOODLE_ROSTER, lms="canvas")


# -------------------------------------------------------------------------------- out


def make_gradebook(course: Path, students: dict[str, tuple]) -> None:
    """A real nbgrader gradebook: the assignment's two graded cells (90 automatic points,
    10 manual), and per student (auto score, manual score or None = not graded yet, late
    penalty)."""
    url = f"sqlite:///{course}/gradebook.db"
    with gradebook.open_gradebook(course, url) as gb:
        if not gb.assignments:
            gb.add_assignment(ASSIGNMENT, duedate="2025-10-15 23:59:00")
            gb.add_notebook(ASSIGNMENT, ASSIGNMENT)
            gb.add_grade_cell("auto", ASSIGNMENT, ASSIGNMENT, max_score=90, cell_type="code")
            gb.add_grade_cell(
                "explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, max_score=10, cell_type="markdown"
            )
        for student, (auto, manual, penalty) in students.items():
            gb.update_or_create_student(student)
            gb.add_submission(ASSIGNMENT, student, timestamp="2025-10-15 20:00:00")
            grade = gb.find_grade("auto", ASSIGNMENT, ASSIGNMENT, student)
            grade.auto_score, grade.needs_manual_grade = auto, False
            if manual is not None:
                grade = gb.find_grade("explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, student)
                grade.manual_score, grade.needs_manual_grade = manual, False
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            nb.late_submission_penalty = penalty
            gb.db.commit()


@pytest.fixture(scope="module")
def gradebooks(tmp_path_factory) -> dict[str, Path]:
    """Made once: a new gradebook costs an `alembic` run (seconds), so the empty one is
    made first and copied, then each gets its students."""
    made = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        base = tmp_path_factory.mktemp("gradebook_base")
        shutil.copy(COURSE_ROOT / "nbgrader_config.py", base)  # the course id
        make_gradebook(base, {})
        for name, grades in (("canvas", CANVAS_GRADES), ("moodle", MOODLE_GRADES)):
            root = tmp_path_factory.mktemp(f"gradebook_{name}")
            shutil.copy(base / "nbgrader_config.py", root)
            shutil.copy(base / "gradebook.db", root)
            make_gradebook(root, grades)
            made[name] = root / "gradebook.db"
    return made


def use_gradebook(course: Path, gradebooks, name: str) -> str:
    shutil.copy(gradebooks[name], course / "gradebook.db")
    return f"sqlite:///{course}/gradebook.db"


CANVAS_GRADES = {
    "jdoe": (83.39, 7, 0),
    "asmith": (90, 10, 0),
    "bnguyen": (60, 5, 10),  # late: 65 - 10
    "crojas": (45, None, 0),  # free text not graded yet
    "ghost": (70, 5, 0),  # in the gradebook, not in the roster
}
MOODLE_GRADES = {
    "jane.doe@example.edu": (83.39, 7, 0),
    "jose.nunez@example.edu": (90, 10, 0),
    "alex.smith@example.edu": (40, 5, 0),
}


def assert_golden(written: Path, golden_name: str) -> None:
    golden = FIXTURES / golden_name
    if os.environ.get("C1W3_UPDATE_GOLDEN"):
        shutil.copy(written, golden)
    assert written.read_text(encoding="utf-8") == golden.read_text(encoding="utf-8")


def test_canvas_export_blank_for_missing(course, gradebooks):
    url = use_gradebook(course, gradebooks, "canvas")
    result = lms.export(
        course, "canvas", fx.CANVAS_ROSTER, column="C1W3 Convolutions (12345)", db_url=url
    )
    assert result.path == course / "reports" / f"{ASSIGNMENT}_canvas.csv"
    assert_golden(result.path, "canvas_export.csv")
    assert (result.rows, result.graded) == (7, 4)
    assert result.blank == ["dlee", "sobrien", "Student, Test"]
    assert result.not_in_roster == ["ghost"]
    assert result.needs_manual_grade == ["crojas"]
    assert result.no_id == ["Student, Test"]


def test_canvas_export_scaled_and_zero_for_missing(course, tmp_path, gradebooks):
    url = use_gradebook(course, gradebooks, "canvas")
    out = tmp_path / "to_canvas.csv"
    result = lms.export(
        course,
        "canvas",
        fx.CANVAS_ROSTER,
        out=out,
        points=10,
        missing="zero",
        column="C1W3 Convolutions (12345)",
        db_url=url,
    )
    assert result.path == out
    assert_golden(out, "canvas_export_points10_zero.csv")


def test_canvas_points_default_to_the_rosters_points_possible(course, tmp_path, gradebooks):
    url = use_gradebook(course, gradebooks, "canvas")
    roster = tmp_path / "roster.csv"
    roster.write_text(fx.CANVAS_ROSTER.read_text().replace(",100.00,", ",20.00,"))
    column = "C1W3 Convolutions (12345)"
    result = lms.export(course, "canvas", roster, column=column, db_url=url)
    assert result.points == 20 and result.warnings == []
    rows = result.path.read_text().splitlines()
    assert rows[1] == "    Points Possible,,,,,20"
    assert rows[2] == '"Doe, Jane",4242,S1001,jdoe,Section A,18.08'  # 90.39 of 100 -> of 20

    result = lms.export(course, "canvas", roster, column=column, points=10, db_url=url)
    assert result.points == 10
    assert result.warnings == [
        "points 10 but the roster's Points Possible for 'C1W3 Convolutions (12345)' is 20: "
        "the import sets the Canvas assignment to 10 points"
    ]
    # a column the roster does not have: nbgrader's maximum
    assert lms.export(course, "canvas", roster, column="New column", db_url=url).points == 100


def test_moodle_export(course, gradebooks):
    url = use_gradebook(course, gradebooks, "moodle")
    result = lms.export(course, "moodle", fx.MOODLE_ROSTER, column="C1W3 Convolutions", db_url=url)
    assert_golden(result.path, "moodle_export.csv")
    assert result.blank == [
        "sam.taylor@example.edu", "sam.taylor2@example.edu", "dana.lee@example.edu",
    ]  # fmt: skip
    assert result.not_in_roster == [] and result.needs_manual_grade == []


@pytest.mark.process
def test_stock_nbgrader_export_runs_the_plugin(course, gradebooks):
    """`nbgrader export --exporter=course.lms.CanvasExport` gives the same CSV."""
    use_gradebook(course, gradebooks, "canvas")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "nbgrader"),
            "export",
            "--exporter=course.lms.CanvasExport",
            f"--CanvasExport.roster={fx.CANVAS_ROSTER}",
            "--CanvasExport.column=C1W3 Convolutions (12345)",
            "--to=lms.csv",
        ],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_golden(course / "lms.csv", "canvas_export.csv")


# ------------------------------------------------------------------------- CLI, Makefile


def test_cli_collect_and_export(course, tmp_path, capsys, gradebooks):
    zipped = fx.canvas_first(tmp_path / "a.zip")
    base = ["--course", str(course)]
    assert (
        lms.main(["collect", *base, "--zip", str(zipped), "--roster", str(fx.CANVAS_ROSTER)]) == 0
    )
    out = capsys.readouterr().out
    assert "NOT COLLECTED (6):" in out and "new        jdoe/c1w3_convolutions.ipynb" in out

    use_gradebook(course, gradebooks, "canvas")
    code = lms.main(["export", *base, "--to", "moodle", "--roster", str(fx.CANVAS_ROSTER)])
    assert code == 2 and "needs columns" in capsys.readouterr().err  # wrong roster for Moodle
    code = lms.main(["export", *base, "--to", "canvas", "--roster", str(fx.CANVAS_ROSTER)])
    assert code == 0
    out = capsys.readouterr().out
    assert "graded but not in the roster, NOT exported: ghost" in out
    assert (course / "reports" / f"{ASSIGNMENT}_canvas.csv").exists()


def test_makefile_targets():
    # Under `make test` this runs inside make: a nested make would print "Entering directory".
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}

    def dry(*args):
        done = subprocess.run(
            ["make", "-n", *args], cwd=COURSE_ROOT, capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert dry("collect", "ZIP=dl.zip", "ROSTER=r.csv") == (
        '.venv/bin/python -m course collect --zip "dl.zip" --roster "r.csv"'
    )
    assert dry("export-lms", "TO=canvas", "ROSTER=r.csv", "POINTS=10", "MISSING=zero") == (
        '.venv/bin/python -m course export-lms --to canvas --roster "r.csv" --points 10'
        " --missing zero"
    )
    help_text = subprocess.run(
        ["make", "help"], cwd=COURSE_ROOT, capture_output=True, text=True, env=env
    )
    help_text = help_text.stdout
    assert "make collect" in help_text and "make export-lms" in help_text


@pytest.mark.process
def test_a_new_gradebook_is_made_in_a_child_without_touching_this_environment(
    tmp_path, monkeypatch
):
    """nbgrader's Gradebook stamps a new database with `alembic` run by name. With this
    interpreter's bin off PATH (as `python -m course.lms` run without make), opening a new
    gradebook still works: an nbgrader child made it, given PATH explicitly; ours is unchanged."""
    bindir = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != bindir)
    monkeypatch.setenv("PATH", path)
    monkeypatch.delenv(gradebook.ENV, raising=False)
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", tmp_path)
    with gradebook.open_gradebook(tmp_path) as gb:
        gb.add_student("ada")
    assert os.environ["PATH"] == path
    with gradebook.open_gradebook(tmp_path) as gb:  # stamped: no child this time
        assert [s.id for s in gb.students] == ["ada"]
