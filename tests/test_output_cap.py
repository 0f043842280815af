"""The grader's output cap (SandboxedExecute.max_output_kb) and nbgrader's LimitOutput, which
runs after it, together: the note saying output was dropped must survive whatever way the
kernel batched the printed lines into messages.

The batching depends on speed: ipykernel sends what was printed since its last flush, so on
an idle machine a print loop arrives as a few huge messages and under load as many small
ones. LimitOutput keeps the first 1,000 lines of a cell's stream outputs and drops every
stream output after them; a note written as a stream output after 2 MB of 1,200-character
lines was dropped whenever the lines before it came in small messages (issue 34: the hostile
class's `output_flood` failed under `make test`'s two workers, passed alone).
"""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.preprocessors import LimitOutput
from traitlets.config import Config

from course.nbgrader_plugins import SandboxedExecute

LINE = "flood " * 200 + "\n"  # as scenarios/hostile_class.py's output_flood prints it
LINES = 10_000


def _stream(text: str, name: str = "stdout") -> dict:
    return {
        "msg_type": "stream",
        "parent_header": {"msg_id": "cell"},
        "header": {"msg_type": "stream"},
        "content": {"name": name, "text": text},
    }


def _graded_outputs(lines_per_message: int, max_output_kb: int = 2048) -> list:
    """The flood cell's outputs after SandboxedExecute received the prints in messages of
    `lines_per_message` lines and LimitOutput then ran over the cell."""
    execute = SandboxedExecute(config=Config({"SandboxedExecute": {"max_output_kb": 64}}))
    execute.max_output_kb = max_output_kb
    execute.reset_execution_trackers()  # what nbclient does before a notebook runs
    execute.clear_before_next_output = False  # as nbclient's execute_cell sets it
    execute._output_bytes = 0
    cell = new_code_cell("for _ in range(10_000): print(line)")
    for start in range(0, LINES, lines_per_message):
        count = min(lines_per_message, LINES - start)
        execute.output(cell.outputs, _stream(LINE * count), None, 0)
    nb = new_notebook(cells=[cell])
    nb, _ = LimitOutput().preprocess(nb, {})
    return nb.cells[0].outputs


def _text(outputs) -> str:
    return "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )


# 1 line a message (a loaded machine), 50, 500, 5,000 and every line in one (an idle one)
@pytest.mark.parametrize("lines_per_message", [1, 50, 500, 5_000, LINES])
def test_the_dropped_output_note_survives_any_batching(lines_per_message):
    outputs = _graded_outputs(lines_per_message)
    assert "[output beyond 2048 KB dropped by the grader]" in _text(outputs)


@pytest.mark.parametrize("lines_per_message", [1, 500, LINES])
def test_no_more_than_the_cap_is_kept(lines_per_message):
    kept = sum(len(o.get("text", "")) for o in _graded_outputs(lines_per_message))
    assert kept <= 2048 * 1024


def test_output_under_the_cap_is_kept_whole_and_not_noted():
    outputs = _graded_outputs(50, max_output_kb=20_000)
    assert "dropped by the grader" not in _text(outputs)
    # LimitOutput's own line limit still applies and says so
    assert "... Output truncated ..." in _text(outputs)
