"""course/layout.py: every path of an assignment comes from nbgrader's CourseDirectory and the
course's own nbgrader_config.py; and the hidden graders never import the course tools."""

from __future__ import annotations

import ast

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
    for path in sorted((COURSE_ROOT / "graders").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] != "course", f"{path.name} imports {name}"
