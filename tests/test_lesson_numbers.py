"""Every number the student or TA reads in the notebook's text comes from the data.

The markdown (instructions and the TA's mark scheme) and the comments of the source notebook
quote numbers: shapes and counts of the lab's model, the 5-seed table of Part 6e, the course's
seed-42 run. Each decimal and each number of 100 or more must be one of the facts computed
here from the one model specification (graders.reference), the committed benchmark results
(benchmarks/results/) and the graders' tolerances, or a labelled example. A number that
drifts from its data fails this test with its context.
"""

from __future__ import annotations

import json
import math
import re
import statistics

import nbformat

from course.layout import COURSE_ROOT
from graders import hidden, public_checks, reference
from tests.support.course import SOURCE

checks = public_checks()
RESULTS = COURSE_ROOT / "benchmarks" / "results"
NUMBER = re.compile(
    r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+\.\d+|(?<![\w.,])\d{3,}"
)

# Numbers in the text that are examples, not facts (the reason is the value).
EXAMPLES = {
    "0.8850": "6d's worked example of percentage points",
    "0.8700": "6d's worked example of percentage points",
    "1.5": "6d's worked example: 0.8850 against 0.8700",
    "255.0": "the lab's scaling of pixel values",
    "123": "an example student id (ab123)",
    "1_024": "how to write a whole number",
    "150": "the length asked of the Part 7 reply (words)",
    "250": "the length asked of the Part 7 reply (words)",
}


def _pixels_reaching_last_pool(name: str) -> int:
    """Input pixels one can trace back from the last pooling layer's whole output."""
    spec = reference.model_spec(name)
    rows = reference.expected_layers(spec)
    last = max(i for i, d in enumerate(spec["layers"]) if d["kind"] == "MaxPooling2D")
    side = rows[last][1][0]
    for layer in reversed(spec["layers"][: last + 1]):
        if layer["kind"] == "MaxPooling2D":
            side *= layer["pool"][0]
        else:
            side += layer["kernel"][0] - 1
    return side * side


def _formats(value: float) -> set[str]:
    out = {f"{value:,.0f}", f"{value:.0f}"} if float(value).is_integer() else set()
    for places in (1, 2, 3, 4):
        out |= {f"{value:.{places}f}", f"{value:,.{places}f}"}
    return out


def facts() -> set[str]:
    values: set[float] = set()
    models = ("lab", "no_pooling", "dense", "dense2", "dense_wide")
    for name in models:
        for _, shape, params in reference.expected_layers(name):
            values |= {*shape, params}
        values |= {reference.expected_total(name), reference.macs_per_image(name)}
        values |= set(reference.values_per_image(name))
    values |= {reference.dense_equivalent_params(), _pixels_reaching_last_pool("lab")}
    values.add(reference.values_per_image()[1] / reference.values_per_image()[0])  # 27.6x
    for a, b in (("no_pooling", "lab"), ("lab", "dense")):
        values.add(reference.expected_total(a) / reference.expected_total(b))
        values.add(reference.macs_per_image(a) / reference.macs_per_image(b))
    table = checks.SEED_TABLE
    for row in table.values():
        values |= {row["train_acc"], row["test_acc"], row["shift2_acc"], row["train_sd"]}
        values |= {row["test_sd"], row["train_acc"] - row["test_acc"]}
    for a in table:
        for b in table:
            values.add(100 * (table[a]["test_acc"] - table[b]["test_acc"]))
    spread = json.loads((RESULTS / "machine_spread.json").read_text())
    for row in spread["rows"]:
        values |= {row["conv_test_acc"], row["dense_test_acc"], row["gain_points"]}
    gains = [row["gain_points"] for row in spread["rows"]]
    values.add(max(gains) - min(gains))
    # the recipe and the data: images, batches, the probe's sizes, the compute control's width
    values |= {60_000, 10_000, 2_000, 1_000, 200, 128, 1_780, 784}
    values |= {hidden.GAIN_TOLERANCE_POINTS, hidden.CLASS_TIE}
    # points: the automatic ones and the TA's 10; 100 per cent; pixel values 0-255 and the
    # float64 copy of the training set the faster scaling avoids (MB)
    values |= {sum(hidden.POINTS.values()) + 10, sum(hidden.POINTS.values()), 100, 255}
    values.add(round(60_000 * 784 * 8 / 1e6))
    conv2, pool = reference.expected_layers("lab")[2][1][0], checks.LAB_LAYERS[3]["pool"][0]
    values.add(conv2 / pool)  # 11 / 2 = 5.5
    out = set()
    for v in values:
        out |= _formats(float(v))
    return out


def _texts():
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            yield cell.metadata.get("nbgrader", {}).get("grade_id") or cell.id, cell.source
        else:
            comments = "\n".join(line.split("#", 1)[1] for line in cell.source.splitlines()
                                 if "#" in line and "###" not in line)  # fmt: skip
            yield cell.metadata.get("nbgrader", {}).get("grade_id") or cell.id, comments


def test_every_number_in_the_notebooks_text_is_a_fact_or_an_example():
    known = facts()
    unknown = []
    for where, text in _texts():
        for match in NUMBER.finditer(text):
            number = match.group(0)
            if number in known or number in EXAMPLES:
                continue
            context = text[max(0, match.start() - 40) : match.end() + 20].replace("\n", " ")
            unknown.append(f"{where}: {number!r} in ...{context}...")
    assert not unknown, "numbers with no source:\n" + "\n".join(unknown)


def test_the_facts_hold_the_numbers_the_lesson_argues_with():
    """The test above cannot pass by knowing too little: the key numbers are facts."""
    known = facts()
    assert {"676", "16,981,120", "21,632", "113,386", "101,770", "2,370,282", "1,413,504"} <= known
    table = checks.SEED_TABLE
    no_pooling_gain = 100 * (table["no_pooling"]["test_acc"] - table["conv"]["test_acc"])
    assert f"{no_pooling_gain:.1f}" in known
    assert math.isclose(statistics.mean([1, 2]), 1.5)  # EXAMPLES' arithmetic


def seed_table_markdown() -> str:
    """The README's copy of the 5-seed table (Part 6e), rendered from SEED_TABLE."""
    lines = [
        "| model | parameters | multiply-adds / image | train acc | test acc | gap | "
        "test acc, 2 px shift |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in checks.SEED_TABLE.items():
        lines.append(
            f"| {name} | {row['params']:,} | {row['macs']:,} | {row['train_acc']:.4f} "
            f"| {row['test_acc']:.4f} ± {row['test_sd']:.4f} "
            f"| {row['train_acc'] - row['test_acc']:+.4f} | {row['shift2_acc']:.4f} |"
        )
    return "\n".join(lines)


def test_the_readme_shows_the_5_seed_table_as_the_notebook_does():
    readme = (COURSE_ROOT / "README.md").read_text()
    assert seed_table_markdown() in readme, "paste tests.test_lesson_numbers.seed_table_markdown()"
