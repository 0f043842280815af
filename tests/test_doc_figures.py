"""Figures the docs quote from a benchmark are the benchmark's own (issue 30: docs that cannot
drift): benchmarks/grading.py writes benchmarks/results/grading.json, and the one-submission
table in docs/benchmarks.md, the README and docs/training-cache.md must state its numbers;
benchmarks/process_start.py writes process_start.json, which "Starting nbgrader" states."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading

import pytest

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


def test_cpu_is_charged_to_the_test_its_worker_ran_then():
    """A process's CPU goes to the test its nearest xdist-worker ancestor ran at the sample (or
    finished within the sampled second); CPU of processes no worker started is 'outside'."""
    suite = _suite()
    timeline = [  # as benchmarks/suite_timeline.py writes it, in the order tests ended
        {"worker": "gw1", "pid": 20, "test": "tests/test_c.py::three", "start": 100, "end": 130},
        {"worker": "gw0", "pid": 10, "test": "tests/test_a.py::one", "start": 100, "end": 110},
        {"worker": "gw0", "pid": 10, "test": "tests/test_b.py::two", "start": 111, "end": 120},
    ]
    samples = [  # (when, [(CPU seconds since the last look, the process and its ancestors)])
        (105.0, [(1.0, [11, 10, 1]), (2.0, [21, 20, 1]), (4.0, [30, 1])]),  # 30: PostgreSQL
        (110.5, [(8.0, [12, 11, 10, 1])]),  # test_a ended within this second
        (115.0, [(16.0, [10, 1])]),
        (125.0, [(32.0, [13, 10, 1]), (64.0, [21, 20, 1])]),  # gw0 had nothing to run
    ]
    cpu = suite.cpu_by_file(samples, timeline)
    assert cpu["core_s"] == 127 and cpu["outside_workers_s"] == 4
    assert cpu["by_file"] == [
        [66, "tests/test_c.py"],
        [32, "gw0: between tests"],
        [16, "tests/test_b.py"],
        [9, "tests/test_a.py"],
    ]


@pytest.mark.process
def test_the_cpu_sampler_sees_a_child_process_and_its_parent():
    suite = _suite()
    done, ready, samples = threading.Event(), threading.Event(), []
    sampler = threading.Thread(target=suite.cpu_samples, args=(done, samples, ready))
    sampler.start()
    assert ready.wait(30)  # the processes older than the child are listed
    busy = "import time\nend = time.process_time() + 2.5\nwhile time.process_time() < end: pass"
    # it needs 2.5 s of CPU, so it is alive at a look: what it spends after its last look
    # (at most one interval) is lost, as in any run (a lower bound)
    child = subprocess.run([sys.executable, "-c", busy], check=True)
    assert child.returncode == 0
    done.set()
    sampler.join()
    mine = [s for _, spent in samples for s, chain in spent if chain[1:2] == [os.getpid()]]
    assert 2.5 - 1.2 * suite.CPU_INTERVAL_S < sum(mine) < 3.5, samples


@pytest.mark.process
def test_the_timeline_plugin_names_each_workers_tests(tmp_path):
    tests = "def test_one():\n    pass\n\n\ndef test_two():\n    pass\n"
    (tmp_path / "test_two.py").write_text(tests)
    timeline = tmp_path / "timeline.jsonl"
    env = dict(os.environ, C1W3_SUITE_TIMELINE=str(timeline))
    env["PYTHONPATH"] = str(COURSE_ROOT / "benchmarks")
    argv = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "suite_timeline"]
    argv += ["-p", "no:cacheprovider", "test_two.py"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in timeline.read_text().splitlines()]
    names = sorted(line["test"] for line in lines)
    assert names == ["test_two.py::test_one", "test_two.py::test_two"]
    for line in lines:
        assert line["worker"] in {"gw0", "gw1"} and line["pid"] != os.getpid()
        assert line["start"] <= line["end"]


def test_the_cpu_of_one_grading_is_the_benchmarks():
    """docs/benchmarks.md's table and docs/testing.md's range state grading_cpu.json."""
    r = json.loads((COURSE_ROOT / "benchmarks/results/grading_cpu.json").read_text())
    text = (COURSE_ROOT / "docs/benchmarks.md").read_text()
    section = text[text.index("## CPU of one grading") :].split("\n## ")[0]
    assert f"conv2d {r['conv_gflops']} GFLOP/s" in re.sub(r"\s+", " ", section)
    for student, m in r["students"].items():
        row = _row(section, f"`{student}`")
        assert f"| {m['wall_s']} | **{m['core_s']}** | {m['nbgrader_core_s']} |" in row, row
    cheap = sorted(
        m["core_s"] for s, m in r["students"].items() if s != "week2_spellings_renamed_upload"
    )
    testing = _flat("docs/testing.md")
    assert f"costs {cheap[0]}-{cheap[-1]} core-seconds" in testing
    assert f"{r['students']['week2_spellings_renamed_upload']['core_s']} when it trains" in testing
