"""The verdicts that count: judge a submission's saved artifacts outside the student's kernel.

Run as ``python -I -m graders.verify GRADING_DIR`` (course.nbgrader_plugins does, in the
sandbox, after the notebook ran): isolated mode keeps the submission's folder off
``sys.path``, nothing the notebook did in its kernel is in this process, and every check is
judged from the files in GRADING_DIR alone. Prints one JSON object on stdout:
``{grade_id: {"points", "max_points", "all_or_nothing", "ran", "text", "failures"}}``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def verify(directory: Path) -> dict:
    from graders import accuracy, artifacts, hidden

    accuracy.IN_PROCESS = True
    results = {}
    for grade_id in hidden.POINTS:
        payload = artifacts.read(grade_id, directory)
        report, all_or_nothing = hidden.judge(grade_id, payload, directory)
        passed = report.lines and report.correct == len(report.lines)
        points = report.points if not all_or_nothing else (report.max_points if passed else 0.0)
        results[grade_id] = {
            "points": points,
            "max_points": report.max_points,
            "all_or_nothing": all_or_nothing,
            "ran": payload is not None,
            "text": report.text(),
            "failures": [message for ok, message in report.lines if not ok],
        }
    return results


def main() -> int:
    results = verify(Path(sys.argv[1]))
    sys.stdout.flush()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
