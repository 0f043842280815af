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


def _suite():
    """benchmarks/suite.py, imported from its folder (benchmarks/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("suite", COURSE_ROOT / "benchmarks/suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_suite_runs_table_is_generated_from_the_recorded_runs():
    suite = _suite()
    runs = json.loads(suite.RESULTS.read_text())
    text = (COURSE_ROOT / "docs/benchmarks.md").read_text()
    block = text[text.index(suite.BEGIN) : text.index(suite.END) + len(suite.END)]
    assert block == suite.table(runs), "run `python benchmarks/suite.py --table` into the page"
    latest = max(runs, key=lambda r: (r["date"], r.get("order", 0)))
    passed = latest["counts"]["passed"]
    testing = _flat("docs/testing.md")
    assert f"{passed} passed in {suite.minutes(latest['pytest_s'])} on {latest['commit']}" in (
        testing
    ), "docs/testing.md quotes the latest recorded run"


def test_the_suite_report_is_read_from_pytests_own_lines():
    suite = _suite()
    out = (
        "============================= slowest 10 durations =============================\n"
        "624.34s setup    tests/test_accuracy.py::test_reference_model\n"
        "125.10s call     tests/test_hostile_class.py::test_the_cache_audit\n"
        "======================= 926 passed, 2 failed in 1001.57s (0:16:41) ==============\n"
    )
    got = suite.parse(out)
    assert got["counts"] == {"passed": 926, "failed": 2} and got["pytest_s"] == 1002
    assert got["slowest"][0] == [624, "setup", "tests/test_accuracy.py::test_reference_model"]
    assert suite.what(*got["slowest"][0][2:0:-1]) == "the sample class"
    assert suite.what(got["slowest"][1][2], "call") == "`test_the_cache_audit`"
