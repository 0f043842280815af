"""The grade table `make grade` and `make demo` print: columns as wide as their data."""

from __future__ import annotations

from course.grade import score_table


def test_long_student_ids_keep_every_column_aligned():
    rows = [
        ("passes_all", 90.0, 100.0, 17.2),
        ("activation_layers_built_with_add", 86.857, 100.0, 152.4),  # 32 characters
        ("untouched_release", 0.0, 100.0, 9.0),
    ]
    lines = score_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("student ") and "points so far" in lines[0]
    # every separator at the same column on every line, the last column right-aligned
    bars = {tuple(i for i, ch in enumerate(line) if ch == "|") for line in lines}
    assert len(bars) == 1 and len(next(iter(bars))) == 2
    assert len({len(line) for line in lines}) == 1
    assert lines[2].startswith("activation_layers_built_with_add |  86.86 of 100 ")
    assert lines[2].endswith("152 s") and lines[3].endswith("  9 s")


def test_short_ids_give_a_column_as_wide_as_its_header():
    lines = score_table([("ab", 100.0, 100.0, 5.0)]).splitlines()
    assert lines[1].startswith("ab      | 100.00 of 100 ")
    assert lines[0].index("|") == lines[1].index("|")
