"""What the similarity report and the item analysis cost for a class: N synthetic submissions
(the collusion class of scenarios/collusion_class.py plus honest students drawn from the same
spellings of the model and helpers, with written answers of random words) are written to a
temporary course, then read, compared and reported, each step timed. Prints the seconds per
step, the peak memory of this process, how many pairs were listed, and where the planted
pairs ranked. Nothing trains; no gradebook is needed (grades come from the solution's literal
answers, as in tests/test_similarity.py).

    .venv/bin/python benchmarks/similarity_cost.py [--students 300] [--repeat 3]

For scale: grading costs 10-14 s per submission on this 2-core machine with the training
cache (docs/benchmarks.md: 251-357 per hour), 50-65 s without: 300 students are 50-70
minutes at best.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from course import item_analysis, similarity
from course.layout import COURSE_ROOT, Layout
from scenarios import collusion_class


def run(course: Path) -> dict[str, float]:
    """One cold run, as after a batch of `make grade` (a fresh process's caches)."""
    similarity.reading.cell_fingerprints.cache_clear()
    similarity.lexing.parse.cache_clear()
    times = {}
    layout = Layout(course)
    _ = layout.coursedir  # nbgrader imported: the TA summary has imported it already
    start = time.perf_counter()
    template = similarity.load_template(layout)
    subs, skipped = similarity.read_class(course, template=template)
    solution = similarity.solution_fingerprints(layout, template)
    times["read notebooks (json, tokens, ast)"] = time.perf_counter() - start
    source = nbformat.read(layout.notebook("source"), as_version=4)
    grades = similarity.grades_by_reference(
        subs, template, similarity.reference_answers(source, template)
    )
    t = time.perf_counter()
    result = similarity.compare(subs, template, grades, solution=solution, skipped=skipped)
    times["compare every pair"] = time.perf_counter() - t
    t = time.perf_counter()
    similarity.write_report(course, result)
    times["write the HTML report"] = time.perf_counter() - t
    t = time.perf_counter()
    ids = template.grade_ids
    analysis = item_analysis.analyse(grades, ids, subs, template)
    item_analysis.write_csv(analysis, layout.reports / "items.csv")
    times["item analysis + CSV"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    times["_result"] = result
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
        shutil.copytree(COURSE_ROOT / "source", course / "source")
        shutil.copytree(COURSE_ROOT / "release", course / "release")
        t = time.perf_counter()
        notebooks = collusion_class.synthetic_class(args.students)
        collusion_class.write_notebooks(course, notebooks)
        made = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (course / "submitted").rglob("*.ipynb"))
        print(
            f"{len(notebooks)} submissions ({size / len(notebooks) / 1024:.0f} KiB each), "
            f"synthesized in {made:.1f} s"
        )
        runs = [run(course) for _ in range(args.repeat)]
        result = runs[-1].pop("_result")
        for r in runs[:-1]:
            r.pop("_result")
        print(f"\n{'step':38s} | best of {args.repeat} | worst")
        for step in runs[0]:
            values = [r[step] for r in runs]
            print(f"{step:38s} | {min(values):8.2f} s | {max(values):5.2f} s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {peak:.0f} MB")
        pairs = [(p.a, p.b) for p in result.pairs]
        print(f"\npairs listed (>= {similarity.REPORT_MIN} points): {len(pairs)}")
        for pair, what in collusion_class.PLANTED.items():
            key = tuple(sorted(pair))
            rank = pairs.index(key) + 1 if key in pairs else None
            print(f"  planted {what:30s}: rank {rank}")
        html = similarity.report_path(course).stat().st_size
        print(f"HTML report: {html / 1024:.0f} KiB for the first {similarity.TOP_PAIRS} pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
