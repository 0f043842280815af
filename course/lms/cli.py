"""`python -m course collect` and `python -m course export-lms` (also `python -m course.lms
{collect,export}`)."""

from __future__ import annotations

import sys

from traitlets import Bool, CaselessStrEnum, Float, Unicode

from course.app import PROG, CourseCommand, GradebookCommand, launch, lazy
from course.lms.collect import collect
from course.lms.export import export
from course.lms.roster import LMSES, LmsError
from graders import ASSIGNMENT


class CollectApp(CourseCommand):
    name = f"{PROG} collect"
    description = f"LMS submissions zip -> submitted/<student>/{ASSIGNMENT} (docs/lms.md)."
    takes_knobs = False  # nbgrader's zip_collect in this process: no grading settings
    zip = Unicode(help="The LMS's 'download submissions' zip (required).").tag(config=True)
    roster = Unicode(help="Canvas gradebook export or Moodle grade export, CSV (required).").tag(
        config=True
    )
    lms = CaselessStrEnum(
        LMSES, default_value=None, allow_none=True, help="Default: detected from the roster."
    ).tag(config=True)
    id_column = Unicode("", help="Roster column used as the nbgrader student id.").tag(config=True)
    timestamps = CaselessStrEnum(
        ("late", "all", "none"), "late", help="Which entries' times to keep."
    ).tag(config=True)
    zip_timezone = Unicode("UTC", help="Time zone of the zip's entry times.").tag(config=True)
    force = Bool(False, help="Replace even newer files in submitted/.").tag(config=True)
    verbose = Bool(False, help="Show nbgrader's log.").tag(config=True)
    options = {
        "zip": "zip",
        "roster": "roster",
        "lms": "lms",
        "id-column": "id_column",
        "timestamps": "timestamps",
        "zip-timezone": "zip_timezone",
    }
    switches = {"force": "force", "verbose": "verbose"}

    def run(self) -> int:
        if not (self.zip and self.roster):
            self.fail("collect needs --zip and --roster")
        try:
            report = collect(
                self.course,
                self.zip,
                self.roster,
                lms=self.lms,
                id_column=self.id_column or None,
                timestamps=self.timestamps,
                force=self.force,
                zip_timezone=self.zip_timezone,
                verbose=self.verbose,
            )
        except LmsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(report.format())
        return 0 if report.outcomes or not report.not_collected else 1


class ExportApp(GradebookCommand):
    name = f"{PROG} export-lms"
    description = "Gradebook -> the LMS's grade import CSV, one row per roster student."
    takes_knobs = False
    to = CaselessStrEnum(
        LMSES, default_value=None, allow_none=True, help="The LMS (required)."
    ).tag(config=True)
    roster = Unicode(help="The LMS's roster export, CSV (required).").tag(config=True)
    out = Unicode("", help="CSV to write (default: reports/<assignment>_<lms>.csv).").tag(
        config=True
    )
    points = Float(0.0, help="LMS points (default: nbgrader's).").tag(config=True)
    missing = CaselessStrEnum(
        ("blank", "zero"), "blank", help="What a student without a grade gets."
    ).tag(config=True)
    column = Unicode("", help="Grade column header (the LMS assignment).").tag(config=True)
    id_column = Unicode("", help="Roster column that holds the nbgrader student id.").tag(
        config=True
    )
    assignment = Unicode(ASSIGNMENT, help="The assignment.").tag(config=True)
    options = {
        "to": "to",
        "roster": "roster",
        "out": "out",
        "points": "points",
        "missing": "missing",
        "column": "column",
        "id-column": "id_column",
        "assignment": "assignment",
    }

    def run(self) -> int:
        if not (self.to and self.roster):
            self.fail("export needs --to and --roster")
        try:
            result = export(
                self.course,
                self.to,
                self.roster,
                out=self.out or None,
                points=self.points,
                missing=self.missing,
                column=self.column,
                id_column=self.id_column,
                assignment=self.assignment,
                db_url=self.db_url or None,
            )
        except LmsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(result.format())
        return 0


class LmsApp(CourseCommand):
    name = "python -m course.lms"
    description = "Canvas and Moodle: collect submissions, export grades."
    subcommands = {
        "collect": (lazy(CollectApp), CollectApp.description),
        "export": (lazy(ExportApp), ExportApp.description),
    }


def main(argv=None) -> int:
    return launch(LmsApp, argv)
