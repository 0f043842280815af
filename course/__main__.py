"""One command line for the course: ``python -m course <command> [options]``.

A traitlets Application whose subcommands are the course's commands (course/app.py): their
options are traits, and any ``c.<Class>.<trait>`` knob may be set on any of them as
``--Class.trait=value``. Each command's module is imported only when it runs: ``--help`` here
stays fast and never loads nbgrader, Dask or TensorFlow.
"""

from __future__ import annotations

import sys

from course import nbgrader_cli
from course.app import PROG, CourseApplication, lazy

# name -> (the command's CourseCommand class, one line for `python -m course --help`)
COMMANDS = {
    "doctor": ("course.doctor.DoctorApp", "preflight: sandbox tier, data, gradebook URL, cores"),
    "grade": (
        "course.grade.GradeApp",
        "autograde submitted/ (one process per student): feedback, grades.csv, TA summary",
    ),
    "grade-cluster": (
        "course.cluster.GradeClusterApp",
        "the same on Dask (--workers, --scheduler, --db-url)",
    ),
    "summary": ("course.summary.SummaryApp", "write the TA summary from the gradebook"),
    "collect": (
        "course.lms.cli.CollectApp",
        "Canvas or Moodle submissions zip -> submitted/ (--zip, --roster)",
    ),
    "export-lms": (
        "course.lms.cli.ExportApp",
        "gradebook -> the LMS's grade import CSV (--to, --roster)",
    ),
    "publish-lti": (
        "course.lti.PublishApp",
        "gradebook -> the LMS over LTI 1.3 AGS (dry run; --send publishes)",
    ),
    "exchange": (
        "course.exchange.ExchangeApp",
        "nbgrader's exchange on a hub: {release,due,collect,feedback} [--exchange ROOT]",
    ),
    "ta-assist": (
        "course.ta_assist_class.TAAssistApp",
        "Part 7: group answers, propose scores from the TA's grades; `accept` writes them",
    ),
    "warm": (
        "course.training_cache.WarmApp",
        "run the source notebook once, outside any sandbox, to fill .training_cache/",
    ),
    "cache": (
        "course.training_cache.CacheApp",
        "the training cache: {warm,audit,list} [--cache DIR]",
    ),
    "data": (
        "course.data.DataApp",
        "Fashion-MNIST in the Keras cache: seed from Debian's package, or check (default)",
    ),
}


class CourseApp(CourseApplication):
    name = PROG
    description = "The course's commands (one per job); `<command> --help` shows its options."
    subcommands = {name: (lazy(path), summary) for name, (path, summary) in COMMANDS.items()}

    def start(self) -> int:
        return self.subapp.start()


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += [
        "",
        f"{PROG} <command> --help shows a command's options; any c.<Class>.<trait> knob "
        "(docs/configuration.md) may be set on a command as --Class.trait=value.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(
            f"{PROG}: unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    nbgrader_cli.skip_unused_imports()  # before any command imports nbformat
    app = CourseApp()
    app.initialize(argv)
    return app.start()


if __name__ == "__main__":
    sys.exit(main())
