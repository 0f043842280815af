"""The package's main job on the sample class, in this course folder (``make demo``, which
runs ``python -m scenarios.demo``; it lives with the scenarios it grades, so course/ never
imports them):

generate_assignment -> submitted/ (the sample class) -> autograde -> generate_feedback ->
export (grades.csv) -> TA summary, similarity report and item analysis (reports/), then the
grade table and where everything is.
Safe to re-run: every step overwrites its own output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course import runner
from course.context import GradingContext
from course.grade import grade_assignment, step
from course.layout import COURSE_ROOT
from graders import ASSIGNMENT
from scenarios import sample_class


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--course", type=Path, default=COURSE_ROOT)
    parser.add_argument("--students", nargs="*", help="a subset of the sample class")
    args = parser.parse_args(argv)
    runner.show_progress()
    grading = GradingContext.of(args.course)  # one gradebook for the release and the grading
    step(grading, "generate_assignment", ASSIGNMENT, "--force")
    names = sample_class.write_class(args.course, args.students)
    print(f"submitted/: {len(names)} sample students")
    grade_assignment(grading, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
