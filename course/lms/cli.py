"""`python -m course.lms {collect,export}`."""

from __future__ import annotations

import argparse
import sys

from course.layout import COURSE_ROOT
from course.lms.collect import collect
from course.lms.export import export
from course.lms.roster import LMSES, LmsError
from graders import ASSIGNMENT


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course.lms",
        description="Canvas and Moodle: collect submissions, export grades.",
    )
    parser.add_argument(
        "--course", default=str(COURSE_ROOT), help="course folder (default: this one)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("collect", help="LMS submissions zip -> submitted/<student>/" + ASSIGNMENT)
    c.add_argument("--zip", required=True, help="the LMS's 'download submissions' zip")
    c.add_argument(
        "--roster", required=True, help="Canvas gradebook export or Moodle grade export (CSV)"
    )
    c.add_argument("--lms", choices=LMSES, help="default: detected from the roster's columns")
    c.add_argument("--id-column", help="roster column used as nbgrader student id")
    c.add_argument("--timestamps", choices=("late", "all", "none"), default="late")
    c.add_argument("--zip-timezone", default="UTC")
    c.add_argument("--force", action="store_true", help="replace even newer files in submitted/")
    c.add_argument("--verbose", action="store_true", help="show nbgrader's log")

    e = sub.add_parser("export", help="gradebook -> the LMS's grade import CSV")
    e.add_argument("--to", required=True, choices=LMSES, dest="lms")
    e.add_argument("--roster", required=True)
    e.add_argument("--out", help="CSV to write (default: reports/<assignment>_<lms>.csv)")
    e.add_argument("--points", type=float, default=0.0, help="LMS points (default: nbgrader's)")
    e.add_argument("--missing", choices=("blank", "zero"), default="blank")
    e.add_argument("--column", default="", help="grade column header (the LMS assignment)")
    e.add_argument("--id-column", default="")
    e.add_argument("--assignment", default=ASSIGNMENT)
    e.add_argument("--db-url", help="gradebook URL (default: $C1W3_DB_URL or gradebook.db)")
    args = parser.parse_args(argv)

    try:
        options = vars(args)
        if options.pop("command") == "collect":
            report = collect(
                options.pop("course"), options.pop("zip"), options.pop("roster"), **options
            )
            print(report.format())
            return 0 if report.outcomes or not report.not_collected else 1
        result = export(options.pop("course"), options.pop("lms"), options.pop("roster"), **options)
        print(result.format())
        return 0
    except LmsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
