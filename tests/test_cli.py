"""`python -m course <command>`: the one command line in front of the course modules."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
from traitlets import Bool, List, Unicode
from traitlets.utils.importstring import import_item

from course import __main__ as cli
from course.app import PROG, CourseCommand, lazy
from course.ta_assist import TAAssist

# What the Makefile and the README need; a command dropped from the CLI fails here.
EXPECTED = {
    "grade",
    "grade-cluster",
    "doctor",
    "summary",
    "ta-assist",
    "collect",
    "export-lms",
    "publish-lti",
    "exchange",
    "warm",
    "cache",
    "data",
}


def course(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course", *args], capture_output=True, text=True, timeout=900
    )


def test_help_lists_every_command_with_one_line():
    done = course("--help")
    assert done.returncode == 0, done.stderr
    listed = {}
    for line in done.stdout.split("commands:\n")[1].splitlines():
        if line.startswith("  "):
            name, _, summary = line.strip().partition(" ")
            listed[name] = summary.strip()
    assert set(listed) == EXPECTED
    assert all(listed.values()), listed


def test_unknown_command_fails_and_names_the_choices():
    done = course("grade-everything")
    assert done.returncode == 2
    assert "unknown command 'grade-everything'" in done.stderr
    assert "grade-cluster" in done.stderr
    assert done.stdout == ""


def test_no_command_prints_usage_and_fails():
    done = course()
    assert done.returncode == 2
    assert "usage: python -m course <command>" in done.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_command_has_help(name, capsys):
    # In this process: the modules are mostly imported already (a child each costs 1-3 s).
    try:
        rc = cli.main([name, "--help"])
    except SystemExit as stop:  # argparse ends --help this way
        rc = stop.code
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("usage: ")


@pytest.mark.process
def test_help_loads_no_tensorflow():
    """Every command's --help in one child: none may import TensorFlow (seconds, and its
    thread settings are fixed at first import)."""
    code = (
        "import contextlib, io, sys\n"
        "from course.__main__ import COMMANDS, main\n"
        "for name in COMMANDS:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main([name, '--help'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_command_runs_end_to_end_as_a_module():
    done = course("doctor", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m course doctor ")


class Echo(CourseCommand):
    """A stand-in command: records what its traits and knobs were, exits with 3."""

    name = f"{PROG} echo"
    students = List(Unicode(), help="several").tag(config=True, several=True)
    loud = Bool(False, help="a flag").tag(config=True)
    positional = ("[WORD]",)
    options = {"students": "students"}
    switches = {"loud": "loud"}
    seen: list = []

    def run(self) -> int:
        Echo.seen.append((self.course, list(self.students), self.loud, self.extra_args, self.knobs))
        return 3


class Quiet(Echo):
    name = f"{PROG} quiet"
    takes_knobs = False


@pytest.fixture
def stand_ins(monkeypatch):
    module = types.ModuleType("stand_in_commands")
    module.Echo, module.Quiet = Echo, Quiet
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for name in ("echo", "quiet"):
        app = (lazy(f"{module.__name__}.{name.title()}"), "a stand-in")
        monkeypatch.setitem(cli.CourseApp.subcommands, name, app)
        monkeypatch.setitem(cli.COMMANDS, name, (f"{module.__name__}.{name.title()}", "x"))
    Echo.seen = []
    return Echo.seen


def test_options_knobs_and_exit_code_pass_through(stand_ins):
    argv = ["echo", "word", "--students", "ada", "bob", "--loud",
            "--SandboxedExecute.cell_seconds=7", "--Echo.course=/d"]  # fmt: skip
    assert cli.main(argv) == 3
    # --Echo.course is the long form of --course; only the course's own knobs go on
    assert stand_ins == [
        ("/d", ["ada", "bob"], True, ["word"], ("--SandboxedExecute.cell_seconds=7",))
    ]
    assert cli.main(["echo", "--course", "/c"]) == 3 and stand_ins[-1][:2] == ("/c", [])


@pytest.mark.parametrize(
    "argv, words",
    [
        (["echo", "one", "two"], "unexpected argument: two"),
        (["echo", "--cell-seconds=7"], "unrecognized arguments: --cell-seconds=7"),
        (
            ["quiet", "--Sandbox.memory_mb=5"],
            "reads no c.<Class>.<trait> knob: --Sandbox.memory_mb=5",
        ),
    ],
)
def test_a_wrong_command_line_stops_with_its_reason(stand_ins, capsys, argv, words):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2 and not stand_ins
    assert words in capsys.readouterr().err


def test_every_command_is_a_course_command_named_as_typed():
    """The one command line: each command's class is a CourseCommand (traits, knobs) whose
    usage line shows it as it is typed."""
    for name, (path, _) in cli.COMMANDS.items():
        app = import_item(path)
        assert issubclass(app, CourseCommand), name
        assert app.name == f"{PROG} {name}", (name, app.name)


@pytest.mark.parametrize(
    "argv",
    [
        ["summary", "--db-url", "sqlite:///x.db"],
        ["ta-assist", "--db-url", "sqlite:///x.db"],
        ["publish-lti", "--db-url", "sqlite:///x.db"],
        ["doctor", "--db-url", "sqlite:///x.db"],
    ],
)
def test_a_knob_reaches_the_grading_context_of_any_command(tmp_path, argv):
    """Not only grade: a command that reads the course's settings reads the knob too."""
    app = cli.CourseApp()
    app.initialize([*argv, "--course", str(tmp_path), "--TAAssist.min_confidence=0.99"])
    grading = app.subapp.grading(db_url=str(tmp_path / "x.db"))
    assert TAAssist(config=grading.config).min_confidence == 0.99
    assert grading.options == ("--TAAssist.min_confidence=0.99",)


def test_a_knob_on_the_command_line_is_this_gradings_everywhere(tmp_path, capsys):
    """`--Class.trait=value` (any c.<Class>.<trait> knob) sets it for one grading: in this
    process's traitlets (the audit, the limits) and in every nbgrader command it runs."""
    from course import grade
    from course.context import GradingContext
    from course.nbgrader_plugins import SandboxedExecute
    from course.training_cache import TrainingCache

    options = ["--SandboxedExecute.cell_seconds=7", "--TrainingCache.audit_fraction=0"]
    grading = GradingContext.of(tmp_path, options=options)
    assert SandboxedExecute(config=grading.config).cell_seconds == 7
    assert TrainingCache(config=grading.config).audit_fraction == 0
    assert SandboxedExecute(config=GradingContext.of(tmp_path).config).cell_seconds == 60
    assert grading.nbgrader_options()[-2:] == options
    assert grading.without_training_cache().nbgrader_options() == [
        *options, "--TrainingCache.enabled=False"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="--students"):
        GradingContext.of(tmp_path, options=["--students", "ada"])
    with pytest.raises(SystemExit):
        grade.main(["--course", str(tmp_path), "--cell-seconds=7"])
    assert "unrecognized arguments: --cell-seconds=7" in capsys.readouterr().err


def test_a_grading_context_is_passed_on_not_built_again(tmp_path):
    """Grading functions require a context; GradingContext.of makes one only from a folder,
    so no function deep down re-reads the gradebook URL (e.g. from $C1W3_DB_URL)."""
    from course.context import GradingContext

    with pytest.raises(TypeError, match="not a GradingContext"):
        GradingContext.of(GradingContext.of(tmp_path))


@pytest.mark.slow
def test_a_cell_limit_on_the_command_line_takes_effect_in_a_grading(tmp_path, training_cache):
    """`make grade`'s command with --SandboxedExecute.cell_seconds=20: the infinite loop is
    stopped at 20 s, not the test course's 30, and the rest is graded;
    --TrainingCache.audit_fraction=0 reaches the batch's audit in this process (no retraining)."""
    import nbformat

    from course.context import GradingContext
    from course.layout import Layout
    from course.nbgrader_plugins import SandboxedExecute
    from graders import ASSIGNMENT
    from scenarios import sample_class
    from tests.support.course import TEST_CELL_SECONDS, make_warm_course, nbgrader_ok

    LIMIT_S = 20
    folder = make_warm_course(tmp_path, training_cache)
    configured = SandboxedExecute(config=GradingContext.of(folder).config).cell_seconds
    assert configured == TEST_CELL_SECONDS > LIMIT_S
    nbgrader_ok(folder, "generate_assignment", ASSIGNMENT)
    sample_class.write_class(folder, ["infinite_loop"], release_root=folder)
    # Below the config file's 30 s (TEST_CELL_SECONDS), so the message shows the command
    # line's value; still 2x the slowest honest cell under make test's load (10.1 s, the
    # setup cell): at 5 s a loaded machine timed out the setup cell too.
    done = course(
        "grade", "--course", str(folder), "--students", "infinite_loop",
        f"--SandboxedExecute.cell_seconds={LIMIT_S}", "--TrainingCache.audit_fraction=0",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    notebook = nbformat.read(Layout(folder).notebook("autograded", "infinite_loop"), 4)
    [cell] = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id")
              == "concept_answers"]  # fmt: skip
    [error] = [o for o in cell.outputs if o.get("ename") == "CellTimeoutError"]
    assert error["evalue"] == f"its time limit is {LIMIT_S} s", error
    assert "training cache audit: off" in done.stdout + done.stderr, done.stdout[-2000:]


@pytest.mark.process
@pytest.mark.system  # `grade` verifies the Fashion-MNIST files from apt first
def test_a_batch_nobody_could_be_graded_still_exports_their_zeros(tmp_path):
    """Every submission unreadable: nbgrader has no notebook to make feedback from (its
    generate_feedback would stop the batch), yet grades.csv lists each student with 0 and
    the table says why."""
    import csv

    from graders import ASSIGNMENT
    from scenarios import sample_class
    from tests.support.course import make_course, nbgrader_ok

    folder = make_course(tmp_path)
    nbgrader_ok(folder, "generate_assignment", ASSIGNMENT)
    sample_class.write_class(folder, ["broken_notebook_file"], release_root=folder)
    done = course("grade", "--course", str(folder))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "feedback: none to make, no submission could be autograded" in done.stdout
    assert "not graded: broken_notebook_file (nbformat.reader.NotJSONError" in done.stdout
    with open(folder / "grades.csv") as fh:
        rows = [(r["student_id"], float(r["score"])) for r in csv.DictReader(fh)]
    assert rows == [("broken_notebook_file", 0.0)]
    assert (folder / "reports" / f"{ASSIGNMENT}_summary.md").exists()
