"""Figures the docs quote from a benchmark are the benchmark's own (issue 30: docs that cannot
drift): benchmarks/grading.py writes benchmarks/results/grading.json, and the one-submission
table in docs/benchmarks.md, the README and docs/training-cache.md must state its numbers;
benchmarks/process_start.py writes process_start.json, which "Starting nbgrader" states."""

from __future__ import annotations

import json
import re

from course.layout import COURSE_ROOT

RESULT = json.loads((COURSE_ROOT / "benchmarks/results/grading.json").read_text())
STARTS = json.loads((COURSE_ROOT / "benchmarks/results/process_start.json").read_text())


def _flat(path: str) -> str:
    return re.sub(r"\s+", " ", (COURSE_ROOT / path).read_text())


def _row(table_text: str, label: str) -> str:
    rows = [line for line in table_text.splitlines() if line.startswith(f"| {label}")]
    assert len(rows) == 1, f"no single row {label!r} in docs/benchmarks.md"
    return rows[0]


def test_the_one_submission_table_states_the_benchmarks_numbers():
    text = (COURSE_ROOT / "docs/benchmarks.md").read_text()
    section = text[text.index("## One submission") :].split("\n## ")[0]
    r = RESULT
    assert f"on {r['date']} (commit {r['commit']})" in section
    assert f"{r['conv_gflops']} GFLOP/s" in section
    lab = f"| {r['lab_s']} s; conv fit {r['lab_conv_fit_s']} s |"
    assert lab in _row(section, "lab as written (batch 32): whole process")
    assert f"**{r['miss_s']} s**" in _row(section, "**autograde, cache miss**")
    assert f"conv fit inside {r['miss_conv_fit_s']} s" in _row(section, "**autograde, cache miss**")
    hit = _row(section, "**autograde, cache hit**")
    assert f"**{r['hit_s']} s** (runs {', '.join(str(x) for x in r['hit_runs_s'])})" in hit
    assert f"{r['verifier_stored_s']} s / {r['verifier_unstored_s']} s" in _row(
        section, "verifier alone"
    )
    assert f"{r['warm_s']} s" in _row(section, "`make warm`")
    assert f"{r['peak_rss_hit_mb']} MB on a hit, {r['peak_rss_miss_mb']} MB on a miss" in section


def test_the_readme_and_the_cache_page_quote_the_same_run():
    r = RESULT
    readme = _flat("README.md")
    assert (
        f"{r['hit_s']} s per autograde instead of {r['miss_s']} s in the latest measurement"
        in readme
    )
    assert f"conv2d {r['conv_gflops']} GFLOP/s, {r['date']}" in readme
    cache = _flat("docs/training-cache.md")
    assert f"**{r['hit_s']} s per autograde on a hit, {r['miss_s']} s on a miss**" in cache
    assert f"conv2d at {r['conv_gflops']} GFLOP/s ({r['date']})" in cache


def test_every_graded_run_of_the_benchmark_gave_full_automatic_marks():
    assert RESULT["points"] == [90.0]


def test_the_start_table_states_the_benchmarks_numbers():
    text = (COURSE_ROOT / "docs/benchmarks.md").read_text()
    section = text[text.index("## Starting nbgrader") :].split("\n## ")[0]
    r = STARTS
    assert (
        f"`benchmarks/process_start.py --runs {r['runs']}` on {r['date']} (commit {r['commit']})"
        in section
    )
    for name, v in r["rows"].items():
        assert f"| {name} | {v['wall_s']} | {v['cpu_s']} |" in _row(section, name)
    assert f"CPU saved per nbgrader process: **{r['cpu_saved_per_process_s']} s**" in section
    plain = r["rows"]["nbgrader --version (plain)"]["cpu_s"]
    assert r["rows"]["nbgrader --version (course.nbgrader_cli)"]["cpu_s"] < plain
