"""The command line's machinery: every ``python -m course`` command is a traitlets
:class:`CourseCommand` (the Application class nbgrader's and Jupyter's commands are built on).

Its options are traits (``--course X`` is short for ``--<Command>.course=X``), and any
``c.<Class>.<trait>`` knob (docs/configuration.md) may be given on any command as
``--Class.trait=value``: over nbgrader_config.py for this command's grading context, and passed
on to every nbgrader process it starts (:attr:`CourseCommand.knobs`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from traitlets import Unicode
from traitlets.config import Application
from traitlets.utils.importstring import import_item

from course.context import OPTION, GradingContext
from course.layout import COURSE_ROOT
from graders import ASSIGNMENT

PROG = "python -m course"


def lazy(command: str | type[Application]):
    """A subcommand factory: a new instance each time (traitlets' own would be a singleton,
    which two commands of one process cannot share), its module imported only when the command
    runs (`--help` of `python -m course` never loads nbgrader, Dask or TensorFlow)."""

    def make(parent: Application) -> Application:
        cls = import_item(command) if isinstance(command, str) else command
        return cls(parent=parent)

    return make


class StderrNow(logging.StreamHandler):
    """A log handler on sys.stderr as it is when a line is written, not when logging was set
    up (traitlets' default binds the stream at start: a test's capture that ended since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class CourseApplication(Application):
    """traitlets' Application, its log on :class:`StderrNow`. traitlets sets up logging with
    logging.config.dictConfig, which closes every handler in the process (TensorFlow's absl
    handler too, where a command runs inside another program): here only this command's own
    logger gets a handler."""

    def _configure_logging(self) -> None:
        log = logging.getLogger(type(self).__name__)
        if not any(isinstance(h, StderrNow) for h in log.handlers):
            handler = StderrNow()
            handler.setFormatter(self._log_formatter_cls(self.log_format, self.log_datefmt))
            log.addHandler(handler)
        log.setLevel(self.log_level)
        self._logging_configured = True


class CourseCommand(CourseApplication):
    """One command. Subclasses set ``name``, ``description``, ``options`` and ``switches`` for
    their own traits, and implement :meth:`run`."""

    course = Unicode(str(COURSE_ROOT), help="The course folder.").tag(config=True)
    # --name VALUE for a trait: {"db-url": "db_url"} (merged along the class's bases; None
    # drops an inherited one)
    options: dict[str, str] = {"course": "course"}
    # --name alone sets a Bool trait True: {"all": "everyone"}
    switches: dict[str, str] = {}
    # What the command takes after its options, as shown in its usage line; more is an error.
    positional: tuple[str, ...] = ()
    # False: nothing this command does reads a course knob, so one given is refused, not ignored
    takes_knobs = True

    def __init_subclass__(cls, **kwargs) -> None:
        """traitlets' aliases and flags, named after this class (the config section its
        traits are read from)."""
        super().__init_subclass__(**kwargs)
        options, switches = {}, {}
        for klass in reversed(cls.__mro__):
            options.update(vars(klass).get("options", {}))
            switches.update(vars(klass).get("switches", {}))
        cls.aliases = {n: f"{cls.__name__}.{trait}" for n, trait in options.items() if trait}
        cls.flags = {
            name: ({cls.__name__: {trait: True}}, getattr(cls, trait).help)
            for name, trait in switches.items()
        }

    def initialize(self, argv=None) -> None:
        argv = self._one_value_each(list(sys.argv[1:] if argv is None else argv))
        own = {cls.__name__ for cls in type(self).__mro__}
        # the knobs for the course's other classes, as typed: GradingContext puts them over
        # nbgrader_config.py and hands them to nbgrader's processes
        self.knobs = tuple(
            arg for arg in argv if OPTION.fullmatch(arg) and arg[2:].split(".")[0] not in own
        )
        # its own traits parsed as typed (a list option is a list) and shown by --help-all
        self.classes = [type(self), *self.classes]
        super().initialize(argv)
        if self.subapp is not None:
            return
        if self.knobs and not self.takes_knobs:
            self.fail(f"this command reads no c.<Class>.<trait> knob: {' '.join(self.knobs)}")
        if len(self.extra_args) > len(self.positional):
            self.fail(f"unexpected argument: {' '.join(self.extra_args[len(self.positional) :])}")

    def _one_value_each(self, argv: list[str]) -> list[str]:
        """`--students a b` as `--students a --students b`: a list option (a List trait tagged
        several=True) takes the values up to the next option, as argparse's nargs="*" did;
        traitlets takes one value per option."""
        traits = type(self).class_traits(config=True)
        several = {
            f"--{alias}"
            for alias, target in self.aliases.items()
            if isinstance(alias, str) and traits.get(target.split(".")[-1], None) is not None
            and traits[target.split(".")[-1]].metadata.get("several")
        }  # fmt: skip
        out, option = [], None
        for arg in argv:
            if arg in several:
                option = arg
                continue
            if option and not arg.startswith("-"):
                out += [option, arg]
                continue
            option = None
            out.append(arg)
        return out

    def fail(self, message: str, code: int = 2):
        """Stop with a message on stderr (argparse's convention: 2 for a wrong command line)."""
        print(f"{self.name}: error: {message}", file=sys.stderr)
        self.exit(code)

    def grading(self, assignment: str = ASSIGNMENT, db_url: str | None = None) -> GradingContext:
        """This command's grading context: its course, and its knobs over the course's config."""
        return GradingContext.of(Path(self.course), assignment, db_url or None, self.knobs)

    def emit_help(self, classes: bool = False):
        args = "".join(f" {name}" for name in self.positional)
        yield f"usage: {self.name} [options]{args}"
        yield ""
        yield from super().emit_help(classes)
        if self.takes_knobs:
            yield "Any c.<Class>.<trait> knob (docs/configuration.md): --Class.trait=value."

    def start(self) -> int:
        if self.subapp is not None:
            return self.subapp.start()
        return self.run() or 0

    def run(self) -> int:
        """The command's work; its exit code. A command of subcommands given none stops here."""
        if self.subcommands:
            self.fail(f"choose a subcommand: {', '.join(self.subcommands)}")
        raise NotImplementedError


class GradebookCommand(CourseCommand):
    """A command that reads the gradebook."""

    db_url = Unicode("", help="Gradebook URL (default: $C1W3_DB_URL, else gradebook.db).").tag(
        config=True
    )
    options = {"db-url": "db_url"}


def launch(cls: type[CourseCommand], argv=None) -> int:
    """`cls`'s command on `argv` (sys.argv[1:] when None); its exit code. A wrong command
    line or --help ends in SystemExit, as argparse's do."""
    app = cls()
    app.initialize(argv)
    return app.start()
