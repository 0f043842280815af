"""course/layout.py: every path of an assignment comes from nbgrader's CourseDirectory and the
course's own nbgrader_config.py; and the hidden graders never import the course tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from course.layout import COURSE_ROOT, Layout, load_config
from graders import ASSIGNMENT


def test_paths_follow_the_course_config(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.submitted_directory = 'incoming'\n"
        "c.CourseDirectory.course_id = 'other_course'\n"
    )
    layout = Layout(tmp_path, "week4")
    assert layout.folder("submitted", "alice") == tmp_path / "incoming" / "alice" / "week4"
    assert layout.notebook("autograded", "alice") == (
        tmp_path / "autograded" / "alice" / "week4" / "week4.ipynb"
    )
    assert layout.notebook("feedback", "alice").name == "week4.html"
    assert layout.grading_dir("alice") == tmp_path / "autograded" / "alice" / "week4" / "_grading"
    assert layout.run_record("alice") == tmp_path / "reports" / "runs" / "week4" / "alice.json"
    (tmp_path / "incoming" / "bob" / "week4").mkdir(parents=True)
    (tmp_path / "incoming" / "carol" / "week3").mkdir(parents=True)
    assert layout.students() == ["bob"]
    assert load_config(tmp_path).CourseDirectory.course_id == "other_course"


def test_the_repository_course_and_a_folder_without_config():
    assert Layout(COURSE_ROOT).folder("source") == COURSE_ROOT / "source" / ASSIGNMENT
    assert load_config(COURSE_ROOT / "no-such-folder") == {}


def test_the_graders_never_import_the_course_tools():
    """course/ uses graders/; the other way round would be a cycle (issue 15)."""
    for path in sorted((COURSE_ROOT / "graders").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] != "course", f"{path.name} imports {name}"


def test_the_setup_hash_covers_every_graders_module_and_the_source_folder(tmp_path):
    """A change anywhere in the graders (graders/training_cache/ included) regrades everyone."""
    import graders
    from course.context import GradingContext

    context = GradingContext.of(COURSE_ROOT)
    covered = {path.resolve() for _, path in context.setup_files()}
    package = Path(graders.__file__).resolve().parent
    assert set(package.rglob("*.py")) <= covered
    assert package / "training_cache" / "key.py" in covered
    assert (COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").resolve() in covered


def test_the_graders_judge_with_the_checks_the_course_config_names(tmp_path, monkeypatch):
    """No repository path in graders/ (issue 30): a grading names the course's c1w3_checks.py
    to the kernel and the verifier (C1W3_PUBLIC_CHECKS, from CourseDirectory's source folder);
    in an autograde that names none the graders refuse rather than read the submission's own
    copy; the instructor's tools name the course's; the source notebook's own kernel (validate,
    warm) finds the copy beside it."""
    import graders
    from course.nbgrader_plugins import grader_variables

    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.source_directory = 'authored'\n"
    )
    config = load_config(tmp_path)
    config.CourseDirectory.root = str(tmp_path)
    checks = tmp_path / "authored" / ASSIGNMENT / graders.CHECKS_FILE
    assert Layout(tmp_path).public_checks == checks
    env, readable = grader_variables(config)
    assert env[graders.CHECKS_ENV] == str(checks) and readable == []  # no file: not bound
    checks.parent.mkdir(parents=True)
    checks.write_text("# the course's copy\n")
    env, readable = grader_variables(config)
    assert env[graders.CHECKS_ENV] == str(checks) and readable == [checks]

    monkeypatch.delenv(graders.CHECKS_ENV, raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    (tmp_path / graders.CHECKS_FILE).write_text("# a submission's edited copy\n")
    monkeypatch.chdir(tmp_path)
    # the instructor's tools (nbgrader's process too): the course's copy, named by course/
    assert graders.checks_path() == Layout(COURSE_ROOT).public_checks
    monkeypatch.setattr(graders, "_course_checks", None)  # a kernel: no instructor tools
    monkeypatch.setenv(graders.CHECKS_ENV, str(checks))  # as the grading tells it
    assert graders.checks_path() == checks
    monkeypatch.delenv(graders.CHECKS_ENV)
    with pytest.raises(RuntimeError, match="does not name the course's c1w3_checks.py"):
        graders.checks_path()  # never the submission's copy beside it
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")  # the source notebook's own kernel
    assert graders.checks_path() == tmp_path / graders.CHECKS_FILE
