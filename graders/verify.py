"""The verdicts that count: judge a submission's saved artifacts outside the student's kernel.

Run as ``python -I -m graders.verify [--student ID] GRADING_DIR`` (course.nbgrader_plugins
does, in the sandbox, after the notebook ran), or as ``... graders.verify --wait [--student
ID] GRADING_DIR``: started
with the kernel, it imports TensorFlow while the notebook runs and judges once it reads
``go`` on stdin, optionally followed by ``{"model_id": ID, "readings": {...}}`` (whose model
Part 4 is judged on, decided from the gradebook's roster; what the provided cells measured,
read from their outputs; anything else, or end of input: it exits having judged nothing). Isolated
mode keeps the submission's folder off ``sys.path``, nothing the notebook did in its kernel
is in this process, and every check is judged from the files in GRADING_DIR alone. Prints one
JSON object on stdout:
``{grade_id: {"points", "max_points", "all_or_nothing", "ran", "text", "failures"}}``
(:class:`graders.report.Verdict`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graders.report import Verdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from graders import settings  # noqa: E402  (TensorFlow-free)

settings.skip_unused_imports()  # before Keras: it never plots or wraps scikit-learn here


def verify(
    directory: Path,
    student: str | None = None,
    model_id: str | None = None,
    readings: dict | None = None,
) -> dict[str, Verdict]:
    """grade id -> Verdict, for every hidden check (``ran`` False where it left no artifact).

    `student`: the id nbgrader grades under; Part 4's answers are judged on that student's
    own model, or on `model_id`'s when given (graders.hidden.graded_spec). `readings`: what
    the notebook's provided cells recorded (graders.registry.READINGS_CELLS)."""
    from graders import artifacts, hidden

    verdicts = {}
    for grade_id in hidden.POINTS:
        payload = artifacts.read(grade_id, directory)
        # This process is already a fresh isolated interpreter: models are evaluated here.
        report, all_or_nothing = hidden.judge(
            grade_id,
            payload,
            directory,
            in_process=True,
            student=student,
            model_id=model_id,
            readings=readings,
        )
        verdicts[grade_id] = report.verdict(all_or_nothing, ran=payload is not None)
    return verdicts


def _import_ahead() -> None:
    """What judging needs, loaded while the notebook still runs (~2.5 s of a TensorFlow
    start): the verdicts are still computed only from the files, after ``go``."""
    import keras

    from graders import evaluate_model, hidden  # noqa: F401

    keras.ops.convert_to_tensor(0.0).numpy()  # the runtime's first op starts its thread pools


def main(argv: list[str]) -> int:
    options = {}
    if argv[:1] == ["--wait"]:
        _import_ahead()
        word, _, rest = sys.stdin.readline().strip().partition(" ")
        if word != "go":
            return 0  # the grading stopped before the notebook ended: nothing to judge
        # What is known only once the notebook ran: whose model Part 4 is judged on.
        options = json.loads(rest) if rest else {}
        argv = argv[1:]
    student = None
    if argv[:1] == ["--student"]:
        student, argv = argv[1], argv[2:]
    readings = options.get("readings")
    readings = readings if isinstance(readings, dict) else None
    verdicts = verify(Path(argv[0]), student, options.get("model_id"), readings)
    sys.stdout.flush()
    print(json.dumps({grade_id: v.to_json() for grade_id, v in verdicts.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
