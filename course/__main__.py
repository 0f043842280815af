"""One command line for the course: ``python -m course <command> [options]``.

Each command hands its options to the ``main(argv)`` of the module that does the work, so
``python -m course.grade`` and the others keep working. Modules are imported only when their
command runs: ``--help`` here stays fast and never loads nbgrader, Dask or TensorFlow.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from course import nbgrader_cli

PROG = "python -m course"


@dataclass(frozen=True)
class Command:
    module: str
    summary: str
    prefix: tuple[str, ...] = ()  # the module's own subcommand, when it has several
    usage: str = ""  # for a module whose main() has no --help of its own
    takes_argv: bool = True  # False: its main() reads sys.argv

    def run(self, name: str, args: list[str]) -> int:
        if self.usage and {"-h", "--help"} & set(args):
            print(f"usage: {PROG} {name} {self.usage}\n\n{self.summary}")
            return 0
        main = importlib.import_module(self.module).main
        saved = sys.argv[:]
        sys.argv[:] = [f"{PROG} {name}", *args]  # argparse's default prog, in usage and errors
        try:
            return (main(_with_subcommand(self.prefix, args)) if self.takes_argv else main()) or 0
        finally:
            sys.argv[:] = saved


COMMANDS = {
    "doctor": Command("course.doctor", "preflight: sandbox tier, data, gradebook URL, cores"),
    "grade": Command(
        "course.grade",
        "autograde submitted/ (one process per student): feedback, grades.csv, TA summary",
    ),
    "grade-cluster": Command(
        "course.cluster", "the same on Dask (--workers, --scheduler, --db-url)"
    ),
    "summary": Command(
        "course.summary", "write the TA summary from the gradebook", takes_argv=False
    ),
    "collect": Command(
        "course.lms",
        "Canvas or Moodle submissions zip -> submitted/ (--zip, --roster)",
        ("collect",),
    ),
    "export-lms": Command(
        "course.lms", "gradebook -> the LMS's grade import CSV (--to, --roster)", ("export",)
    ),
    "publish-lti": Command(
        "course.lti", "gradebook -> the LMS over LTI 1.3 AGS (dry run; --send publishes)"
    ),
    "exchange": Command(
        "course.exchange",
        "nbgrader's exchange on a hub: {release,due,collect,feedback} [--exchange ROOT]",
    ),
    "ta-assist": Command(
        "course.ta_assist_class",
        "Part 7: group answers, propose scores from the TA's grades; `accept` writes them",
    ),
    "warm": Command(
        "course.training_cache",
        "run the source notebook once, outside any sandbox, to fill .training_cache/",
        ("warm",),
    ),
    "cache": Command(
        "course.training_cache", "the training cache: {warm,audit,list} [--cache DIR]"
    ),
    "data": Command(
        "course.data",
        "Fashion-MNIST in the Keras cache: seed from Debian's package, or check (default)",
        usage="[seed|check]",
    ),
}


def _with_subcommand(prefix: tuple[str, ...], args: list[str]) -> list[str]:
    """course.lms takes --course before its subcommand; here it may come anywhere, as it does
    for every other command."""
    for i, arg in enumerate(args):
        if prefix and arg == "--course" and i + 1 < len(args):
            return [*args[i : i + 2], *prefix, *args[:i], *args[i + 2 :]]
        if prefix and arg.startswith("--course="):
            return [arg, *prefix, *args[:i], *args[i + 1 :]]
    return [*prefix, *args]


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()]
    lines += ["", f"{PROG} <command> --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, args = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"{PROG}: unknown command {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr
        )
        return 2
    nbgrader_cli.skip_unused_imports()  # before any command imports nbformat
    return COMMANDS[name].run(name, args)


if __name__ == "__main__":
    sys.exit(main())
