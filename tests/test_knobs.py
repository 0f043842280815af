"""Every limit is defined once, as a traitlet default (course/knobs.py): the table in
docs/configuration.md is generated from them, and the course's nbgrader_config.py never
repeats a default."""

from __future__ import annotations

from course import knobs
from course.layout import COURSE_ROOT, load_config
from course.sandbox import Sandbox


def test_the_documented_table_is_the_generated_one():
    page = (COURSE_ROOT / "docs" / "configuration.md").read_text()
    assert knobs.table() in page, "docs/configuration.md is stale: paste `python -m course.knobs`"


def test_the_course_config_sets_only_what_differs_from_a_default():
    assert knobs.overrides(load_config(COURSE_ROOT)) == {}


def test_a_value_in_the_config_reaches_the_code(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Sandbox.memory_mb = 2048\n")
    config = load_config(tmp_path)
    assert Sandbox(config=config).memory_mb == 2048 != Sandbox().memory_mb
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Sandbox.memory_mb = 3072\n")
    assert knobs.overrides(load_config(tmp_path)) == {"Sandbox.memory_mb": 3072}
