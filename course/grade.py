"""Grade what is in submitted/ (``make grade``): autograde one process per student, then
generate_feedback, export grades.csv and write the TA summary (with the similarity report and
the item analysis beside it); print the grade table.

    python -m course grade [--course DIR] [--students ID ...] [--Class.trait=value ...]

``python -m course grade-cluster`` runs the same pipeline with the autograding on Dask.
"""

from __future__ import annotations

import csv
import sys
import time

from traitlets import List, Unicode

from course import audit, runner, summary
from course.app import PROG, CourseCommand, launch
from course.context import GradingContext
from graders import data


def step(grading: GradingContext, *args: str) -> None:
    """One nbgrader command of the pipeline, in the course folder of `grading`."""
    done = runner.nbgrader(grading, *args)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        raise SystemExit(f"nbgrader {' '.join(args)} failed (exit {done.returncode})")


def one_by_one(grading: GradingContext, names) -> list[runner.GradingRun]:
    runner.log.info(f"autograding {len(names)} submissions, one process each ...")
    return runner.grade_class(grading, names)


def score_table(rows) -> str:
    """The grade table: rows of (student, points, max points, seconds); every column as wide
    as its widest cell, so long student ids stay aligned."""
    cells = [("student", "points so far (TA grades 10 more)", "graded in")]
    cells += [(s, f"{p:6.2f} of {m:g}", f"{t:.0f} s") for s, p, m, t in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    return "\n".join(
        f"{a:<{widths[0]}} | {b:<{widths[1]}} | {c:>{widths[2]}}".rstrip() for a, b, c in cells
    )


def grade_assignment(
    grading: GradingContext, names=None, grade=one_by_one
) -> list[runner.GradingRun]:
    """data check -> grade(grading, names) -> feedback -> grades.csv -> TA summary -> table.
    `grade` autogrades (one_by_one, or course.cluster on Dask); returns its runs."""
    start = time.perf_counter()
    data.verify()  # never grade against files that are not the official Fashion-MNIST
    layout, course = grading.layout, grading.root
    names = list(names or layout.students())
    if not names:
        raise SystemExit(f"nothing to grade: {layout.folder('submitted', '<student>')}/ is empty")
    runs = grade(grading, names)
    # Retrain a sample of this batch's cache hits for real; a difference regrades every hit.
    audit.audit_batch(grading, runs)
    if any(layout.notebook("autograded", s).exists() for s in layout.students("autograded")):
        step(grading, "generate_feedback", grading.assignment, "--force")
    else:  # nbgrader stops with "No notebooks were matched": grades.csv must still list the 0s
        runner.log.info("feedback: none to make, no submission could be autograded")
    step(grading, "export", "--to", str(course / "grades.csv"))
    report = summary.write_summary(grading)

    # every student's last run, whether graded now or (only what changed) before
    last_runs = runner.recorded_runs(layout, names)
    seconds = {r.student: r.seconds for r in last_runs}
    with open(course / "grades.csv") as fh:
        rows = [
            (sid, float(r["raw_score"]), float(r["max_score"]), seconds[sid])
            for r in csv.DictReader(fh)
            if (sid := r["student_id"]) in seconds and r["assignment"] == grading.assignment
        ]
    print("\n" + score_table(rows))
    failed = [r for r in last_runs if not r.ok]
    print(f"\nnot graded: {', '.join(f'{r.student} ({r.reason})' for r in failed) or 'none'}")
    feedback = layout.notebook("feedback", "<student>")
    print(f"feedback:   {feedback if layout.students('feedback') else 'none'}")
    print(f"grades:     {course / 'grades.csv'}")
    print(f"TA summary: {report}")
    # beside it (course/summary.py): for a person to look at, never a grade
    print(f"similarity: {report.parent / f'{grading.assignment}_similarity.html'}")
    print(f"items:      {report.parent / f'{grading.assignment}_items.csv'}")
    print(f"took {time.perf_counter() - start:.0f} s")
    return runs


class GradeApp(CourseCommand):
    name = f"{PROG} grade"
    description = __doc__.split("\n\n")[0]
    students = List(Unicode(), help="Only these students (default: everyone in submitted/).").tag(
        config=True, several=True
    )
    options = {"students": "students"}

    def run(self) -> int:
        runner.show_progress()
        grade_assignment(self.grading(), self.students)
        return 0


def main(argv=None) -> int:
    return launch(GradeApp, argv)


if __name__ == "__main__":
    sys.exit(main())
