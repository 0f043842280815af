"""The source notebook and its release: in sync, no leaks, clean, consistent with the graders."""

import json
import re

import nbformat
import pytest

from graders import ASSIGNMENT, SUPPORT_FILES, hidden, settings
from tests.support.course import RELEASE, SOURCE, make_course, nbgrader_ok


def nbgrader_cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("release"))
    nbgrader_ok(course, "generate_assignment", ASSIGNMENT)
    return course / "release" / ASSIGNMENT


@pytest.mark.slow  # fresh_release runs nbgrader generate_assignment (~15 s)
def test_committed_release_is_in_sync_with_source(fresh_release):
    fresh = nbformat.read(fresh_release / f"{ASSIGNMENT}.ipynb", as_version=4)
    committed = nbformat.read(RELEASE, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        "release/ is stale: run `make release` and commit it"
    )
    assert [c.metadata for c in committed.cells] == [c.metadata for c in fresh.cells]
    for name in SUPPORT_FILES:
        assert (fresh_release / name).read_bytes() == (RELEASE.parent / name).read_bytes()
    assert sorted(p.name for p in RELEASE.parent.iterdir()) == sorted(
        p.name for p in fresh_release.iterdir()
    )


def test_release_leaks_no_solution_hidden_test_or_mark_scheme():
    text = RELEASE.read_text()
    for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "MARK SCHEME", "graders", "grade("):
        assert marker not in text, marker
    source = nbformat.read(SOURCE, as_version=4)
    released_text = "\n".join(c.source for c in nbformat.read(RELEASE, as_version=4).cells)
    solution = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
    provided = "\n".join(solution.sub("", c.source) for c in source.cells)
    for cell in source.cells:
        for body in solution.findall(cell.source):
            for line in body.splitlines():
                line = line.strip()
                if len(line) > 12 and line not in provided:  # substantive, not provided code
                    assert line not in released_text, line


@pytest.mark.parametrize("path", [SOURCE, RELEASE], ids=["source", "release"])
def test_notebooks_are_committed_clean(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
        assert "execution" not in cell["metadata"]
        assert "collapsed" not in cell["metadata"] and "scrolled" not in cell["metadata"]


def test_points_add_up_to_100_and_match_the_graders():
    cells = nbgrader_cells(nbformat.read(SOURCE, as_version=4))
    points = {gid: c.metadata["nbgrader"]["points"] for gid, c in cells.items()
              if c.metadata["nbgrader"].get("points") is not None}  # fmt: skip
    assert sum(points.values()) == 100
    assert {k: v for k, v in points.items() if k != "explain_accuracy_gain"} == hidden.POINTS
    header = cells["header"].source
    assert "**Points: 100 in total.**" in header
    for grade_id in points:
        assert f"`{grade_id}`" in header


def test_every_test_cell_calls_the_grader_with_its_own_id():
    for grade_id, cell in nbgrader_cells(nbformat.read(SOURCE, as_version=4)).items():
        meta = cell.metadata["nbgrader"]
        if meta.get("grade") and cell.cell_type == "code":
            assert f'grade("{grade_id}", globals())' in cell.source, grade_id
            hidden_part = cell.source.split("### BEGIN HIDDEN TESTS")[1]
            last = [ln for ln in hidden_part.splitlines() if ln.strip()][-2]
            assert last == f'grade("{grade_id}", globals())'


def test_training_cells_match_the_graders_step_count():
    cells = nbgrader_cells(nbformat.read(SOURCE, as_version=4))
    assert f"EPOCHS = {settings.EPOCHS}" in cells["train_dense_model"].source
    assert f"BATCH_SIZE = {settings.BATCH_SIZE}" in cells["train_dense_model"].source
    for grade_id in ("train_dense_model", "train_conv_model"):
        assert cells[grade_id].metadata["nbgrader"]["locked"]
        assert "epochs=EPOCHS, batch_size=BATCH_SIZE" in cells[grade_id].source
    assert settings.TRAIN_STEPS == 2345


def test_every_prose_cell_is_locked():
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source != "YOUR ANSWER HERE":
            assert cell.metadata["nbgrader"]["locked"], cell.source[:60]


def test_feedback_hides_tracebacks_when_registered_the_way_nbgrader_does():
    """nbgrader registers preprocessors by name without enabling them."""
    from nbconvert.exporters import HTMLExporter
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    exporter = HTMLExporter()
    exporter.register_preprocessor("course.nbgrader_plugins.HideTracebacks")
    trace = ["----> 3 grade('conv_test_accuracy', globals())", "NameError: name 'x' is not defined"]
    error = new_output(
        "error", ename="NameError", evalue="name 'x' is not defined", traceback=trace
    )
    body, _ = exporter.from_notebook_node(new_notebook(cells=[new_code_cell("x", outputs=[error])]))
    assert "conv_test_accuracy" not in body
    assert "NameError: name 'x' is not defined" in body
