"""The hostile class: submissions that attack the grading, named by their attack.

Each starts from a notebook that earns exactly ``BASE`` (every answer right except
build_conv_model, which has a typo: nothing trains, so the batch stays quick) and adds
the attack in cells a student can edit or insert. ``HOSTILE_CLASS`` says what each one
must score: never more than it earned honestly (docs/threat-model.md).

The attacks print what they tried and what happened, so the autograded notebook is also
a record of what the sandbox stopped. "succeeded" means the call returned: a course folder
under /tmp (as in the tests) exists inside the sandbox only as its private /tmp, so a write
there "succeeds" and vanishes with the sandbox. Whether anything real changed is decided
outside, by hashing (tests/test_hostile_class.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat

from course.layout import COURSE_ROOT, Layout
from graders import ASSIGNMENT
from scenarios.notebook_edits import expect, find_cell, insert_before, solved_release
from scenarios.sample_class import build_raises, dense_only, passes_all

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
VICTIM = "build_raises"  # an honest student of the sample class whose files the attacks target

# What the base notebook earns: build_conv_model raises, so the two model checks, the
# accuracy check and the two readings of the trained model (its shift probe, conv vs dense)
# get 0 and everything else full marks.
BASE = expect(
    conv_model_architecture=0,
    conv_model_compiled=0,
    conv_test_accuracy=0,
    conv_vs_dense=0,
    shift_reading=0,
)
NOTHING = {grade_id: 0.0 for grade_id in BASE}

TRY = '''
def attempt(what, action):
    """Run one attack step; print whether it worked."""
    try:
        result = action()
        print(f"ATTACK {what}: succeeded {result if result is not None else ''}")
    except Exception as exc:
        print(f"ATTACK {what}: blocked ({type(exc).__name__}: {exc})")
'''


def _add(nb, before_grade_id, source):
    insert_before(nb, before_grade_id, TRY + source)
    return nb


def reaches_outside_working_copy(nb, release):
    """Overwrite the gradebook, other students' files, the graders and the source notebook;
    look through /proc; reach PostgreSQL and the internet. Its working copy is
    autograded/<student>/<assignment>/."""
    return _add(
        nb,
        "predict_output_shapes",
        f"VICTIM = {VICTIM!r}\n"
        + """import os, pathlib, sqlite3
here = pathlib.Path.cwd()
root = here.parents[2]  # the course folder
def write(path):
    path = pathlib.Path(path)
    with open(path, "wb") as fh:
        fh.write(b"owned")
    return path
def rewrite_grades():
    db = sqlite3.connect(root / "gradebook.db")
    db.execute("UPDATE grade SET auto_score = 100")
    db.commit()
attempt("overwrite gradebook.db", lambda: write(root / "gradebook.db"))
attempt("update grades in gradebook.db", rewrite_grades)
attempt("overwrite another student's submission",
        lambda: write(root / "submitted" / VICTIM / here.name / (here.name + ".ipynb")))
attempt("write into another student's autograded folder",
        lambda: write(here.parents[1] / VICTIM / here.name / "planted.txt"))
attempt("write another student's feedback", lambda: write(root / "feedback" / "passes_all.html"))
attempt("overwrite the source notebook", lambda: write(root / "source" / here.name / "x.ipynb"))
attempt("patch nbgrader_config.py", lambda: write(root / "nbgrader_config.py"))
import graders
graders_dir = pathlib.Path(graders.__file__).parent
attempt("patch the graders package", lambda: write(graders_dir / "hidden.py"))
attempt("list the course folder via /proc/1/root", lambda: os.listdir(f"/proc/1/root{root}"))
attempt("count the processes it sees", lambda: sum(p.isdigit() for p in os.listdir("/proc")))
import socket, urllib.request
attempt("connect to PostgreSQL on 127.0.0.1:5432",
        lambda: socket.create_connection(("127.0.0.1", 5432), timeout=3).close())
attempt("connect to PostgreSQL's unix socket", lambda: socket.socket(socket.AF_UNIX).connect(
    "/var/run/postgresql/.s.PGSQL.5432"))
attempt("open a web page", lambda: urllib.request.urlopen("http://pypi.org", timeout=3).status)
attempt("reach a public DNS server", lambda: socket.create_connection(("8.8.8.8", 53), timeout=3))
""",
    )


def fork_bomb(nb, release):
    """Forks until the process limit stops it; the children stay alive, asleep."""
    return _add(
        nb,
        "concept_answers",
        """import os, time
def bomb():
    children = 0
    while children < 100000:
        if os.fork() == 0:
            while True:
                time.sleep(1)
        children += 1
attempt("fork 100,000 processes", bomb)
""",
    )


def memory_hog(nb, release):
    """Allocates memory until something stops it, before any check has run."""
    return _add(
        nb,
        "predictions_answer",
        """hog = []
def eat():
    while True:
        hog.append(np.ones(2**27))  # 1 GiB at a time, touched
attempt("allocate 1 GiB after 1 GiB", eat)
""",
    )


def output_flood(nb, release):
    """Prints 12 MB into one cell (the grader keeps 2 MB)."""
    return _add(
        nb,
        "predict_output_shapes",
        """line = "flood " * 200
for _ in range(10_000):
    print(line)
""",
    )


def disk_filler(nb, release):
    """Writes files into its own working copy until something stops it."""
    return _add(
        nb,
        "concept_answers",
        """import os
def fill():
    block = os.urandom(2**20)
    for i in range(100_000):
        with open(f"filler_{i // 100}.bin", "ab") as fh:
            fh.write(block)
attempt("write 100 GB into the working copy", fill)
""",
    )


def sleeps_forever(nb, release):
    """Ignores the interrupt nbgrader sends at the cell's time limit, then sleeps."""
    cell = find_cell(nb, "concept_answers")
    cell.source = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(10**6)\n"
        + cell.source
    )
    return nb


def kills_the_kernel(nb, release):
    """Kills every process it can see, its own kernel included."""
    return _add(
        nb,
        "predictions_answer",
        """import os, signal
attempt("kill PID 1 of its namespace", lambda: os.kill(1, signal.SIGKILL))
attempt("kill its process group", lambda: os.killpg(0, signal.SIGKILL))
""",
    )


def patches_the_grading(nb, release):
    """Makes every in-kernel check pass: patched judge and reports, numpy, subprocess, the
    visible checks; then the hidden cells run as usual."""
    return _add(
        nb,
        "conv_model_architecture",
        """import subprocess, graders.hidden, graders.report
def all_points(grade_id, payload, directory):
    report = graders.report.Report(grade_id, graders.hidden.POINTS[grade_id])
    report.item(True, "patched")
    return report, False
graders.hidden.judge = all_points
graders.report.Report.all_or_nothing = lambda self: None
subprocess.run = lambda *a, **k: subprocess.CompletedProcess(a, 0, '{"accuracy": 1.0}', "")
np.allclose = lambda *a, **k: True
check_conv_model = lambda build_fn: None
print("grading patched")
""",
    )


def shadows_the_graders(nb, release):
    """Puts its own `graders` package in the working copy, first on the kernel's sys.path."""
    return _add(
        nb,
        "conv_model_architecture",
        """import os, sys
os.makedirs("graders", exist_ok=True)
open("graders/__init__.py", "w").write("")
open("graders/hidden.py", "w").write("def grade(grade_id, namespace):\\n    return None\\n")
sys.modules.pop("graders", None); sys.modules.pop("graders.hidden", None)
check_conv_model = lambda build_fn: None
print("graders shadowed")
""",
    )


def edits_public_checks(nb, release):
    """A dense model, and a c1w3_checks.py (its own copy, see CHECKS_EDITS) whose check
    before training accepts anything, so the training cell trains it."""
    return dense_only(nb, release)


def _accept_any_architecture(checks_py: str) -> str:
    head = "def check_before_training(model) -> None:"
    assert head in checks_py
    return checks_py.replace(head, f"{head}\n    return\n\n\ndef _unused(model):")


# The student's own copy of c1w3_checks.py, edited (name -> edit of the released text).
CHECKS_EDITS = {"edits_public_checks": _accept_any_architecture}


def trains_on_test_split(nb, release):
    """The real model, then more training on the official test images after the provided
    training cell, with the optimizer's step counter reset to look untouched."""
    nb = passes_all(nb, release)
    return _add(
        nb,
        "conv_test_accuracy",
        """conv_model.fit(test_images, test_labels, epochs=3, batch_size=128, verbose=0)
conv_model.optimizer.iterations.assign(2345)
conv_test_acc = conv_model.evaluate(test_images, test_labels, verbose=0)[1]
print("test accuracy after training on the test set:", conv_test_acc)
""",
    )


def changes_when_trained_for_real(nb, release):
    """The real model, whose saved weights change only when its training was real: on a
    cache hit it is passes_all; when the cache audit retrains it for real, the output layer's
    biases move (the same shift for every class: the predictions, and so the points, stay).
    The audit must blame the submission, not the cache (course/audit.py)."""
    nb = passes_all(nb, release)
    return _add(
        nb,
        "conv_test_accuracy",
        """if not getattr(conv_history, "training_cache", {}).get("hit"):  # trained for real
    conv_model.layers[-1].bias.assign(conv_model.layers[-1].bias + 0.25)
    print("ATTACK trained for real: the saved weights now differ from a cache hit's")
""",
    )


# name -> (attack, expected automatic points per grade id). Expected points never exceed
# what the notebook earns without the attack (BASE, or the full marks of passes_all).
HOSTILE_CLASS: dict[str, tuple[Callable, dict[str, float]]] = {
    "reaches_outside_working_copy": (reaches_outside_working_copy, BASE),
    "fork_bomb": (fork_bomb, BASE),
    "memory_hog": (memory_hog, NOTHING),
    "output_flood": (output_flood, BASE),
    "disk_filler": (disk_filler, dict(BASE, concept_questions=0.0)),
    "sleeps_forever": (sleeps_forever, dict(BASE, concept_questions=0.0)),
    "kills_the_kernel": (kills_the_kernel, NOTHING),
    "patches_the_grading": (patches_the_grading, BASE),
    "shadows_the_graders": (shadows_the_graders, NOTHING),
    "edits_public_checks": (
        edits_public_checks,
        expect(conv_model_architecture=0, conv_test_accuracy=0, conv_vs_dense=0, shift_reading=0),
    ),
    # its gain, from the accuracy after training on the test set, is judged against the one
    # Part 5 recorded: the kernel claims 6 of conv_vs_dense, the verifier gives 4 (flagged)
    "trains_on_test_split": (trains_on_test_split, expect(conv_test_accuracy=0, conv_vs_dense=4.0)),
    "changes_when_trained_for_real": (changes_when_trained_for_real, expect()),
}
TRAINS = (trains_on_test_split, changes_when_trained_for_real)  # the others never train
# What a TA finds in the integrity report: the kernel claimed points the grader did not give.
FLAGGED = {"patches_the_grading", "shadows_the_graders", "trains_on_test_split"}


def build_submission(name: str, course_root: Path = COURSE_ROOT):
    nb, release = solved_release(course_root, name)
    attack, _ = HOSTILE_CLASS[name]
    if attack not in TRAINS:
        nb = build_raises(nb, release)
    return attack(nb, release)


def write_class(course_root: Path, names=None, release_root: Path = COURSE_ROOT) -> list[str]:
    """Write submitted/<name>/<assignment>/ for each attacker; returns the names."""
    names = list(names or HOSTILE_CLASS)
    release = Layout(release_root).folder("release")
    checks = (release / "c1w3_checks.py").read_text()
    for name in names:
        folder = Layout(course_root).folder("submitted", name)
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(build_submission(name, release_root), folder / NOTEBOOK)
        edit = CHECKS_EDITS.get(name, lambda text: text)
        (folder / "c1w3_checks.py").write_text(edit(checks))
        (folder / "c1w3_core.py").write_bytes((release / "c1w3_core.py").read_bytes())
    return names
