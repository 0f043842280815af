"""nbgrader as the course starts it (course/nbgrader_cli.py): the same nbgrader, without the
import that only two format checks no notebook schema uses need."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import gradebook, nbgrader_cli, runner
from course.context import GradingContext

SKIPPED_FORMATS = {"iri", "iri-reference"}  # what jsonschema checks with rfc3987_syntax

CHECKERS = "import jsonschema; print(' '.join(sorted(jsonschema.FormatChecker().checkers)))"


def _formats(value) -> set[str]:
    if isinstance(value, dict):
        found = {value["format"]} if isinstance(value.get("format"), str) else set()
        return found.union(*(_formats(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_formats(v) for v in value))
    return set()


def test_no_notebook_schema_uses_a_format_the_skipped_import_checks():
    schemas = sorted(Path(nbformat.__file__).parent.rglob("*.json"))
    assert len(schemas) >= 5, schemas  # nbformat's v3 and v4.x schemas
    used = set().union(*(_formats(json.loads(p.read_text())) for p in schemas))
    assert not used & SKIPPED_FORMATS, used


@pytest.mark.process
def test_skipping_the_import_drops_exactly_the_two_iri_checks():
    def checkers(prelude: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", prelude + CHECKERS], capture_output=True, text=True, check=True
        )
        return set(done.stdout.split())

    skipped = checkers("import course.nbgrader_cli as cli; cli.skip_unused_imports(); ")
    plain = checkers("")
    if importlib.util.find_spec("rfc3987_syntax") is None:  # not installed: nothing to skip
        assert plain == skipped
    else:
        assert plain - skipped == SKIPPED_FORMATS and skipped <= plain


@pytest.mark.process
def test_the_course_starts_nbgrader_without_the_unused_import():
    def imported(argv: list[str]) -> tuple[str, str]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, cwd="/"
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout, done.stderr

    # -X importtime lists a failed attempt too: lark (the parser library the skipped module
    # builds its parsers with, imported by nothing else) shows whether it ran
    out, modules = imported(nbgrader_cli.argv("--version")[1:])
    assert "nbgrader version" in out and " lark" not in modules
    assert " nbformat" in modules  # the notebook reader itself is still there
    plain = [str(Path(sys.executable).parent / "nbgrader"), "--version"]
    plain_out, plain_modules = imported(plain)
    assert plain_out == out
    if importlib.util.find_spec("rfc3987_syntax") is not None:  # what the skip saves
        assert " lark" in plain_modules


@pytest.mark.process
def test_a_module_in_the_course_folder_shadows_nothing(tmp_path):
    """nbgrader runs in the course folder; a file there named like a library stays a file."""
    (tmp_path / "nbformat.py").write_text("raise SystemExit('the course folder was imported')")

    def start(argv):
        return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)

    done = start(nbgrader_cli.argv("--version"))
    assert done.returncode == 0 and "nbgrader version" in done.stdout, done.stderr[-2000:]
    without_p = [a for a in nbgrader_cli.argv("--version") if a != "-P"]
    assert "the course folder was imported" in start(without_p).stderr  # what -P prevents


def test_every_nbgrader_child_of_a_grading_is_started_this_way(tmp_path, monkeypatch):
    started = []

    def run(argv, **kwargs):
        started.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    runner.nbgrader(GradingContext.of(tmp_path), "export")
    gradebook.create_in_child(tmp_path, gradebook.default_url(tmp_path), "course")
    prefix = [sys.executable, "-P", "-m", "course.nbgrader_cli"]
    assert [argv[:4] for argv in started] == [prefix, prefix], started
    assert started[0][4] == "export"
