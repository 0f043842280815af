"""Every directional or quantitative claim the lesson makes about the 5-seed table holds.

`SEED_TABLE` (graders/c1w3_core.py, read through c1w3_checks.py) is the course's evidence for "the
convolution, not pooling, depth or compute, made the gain". The notebook's markdown, the
Part 7 mark scheme, the graders' messages (graders/hidden.py, rendered here from the table
the way the graders render them), docs/lesson.md and docs/pooling_seeds.md quote numbers
and directions derived from it. This file computes each of them from SEED_TABLE and checks:

* QUOTES: a quoted phrase must occur in its text (so an edit is noticed) and every number
  in it must be the value computed from SEED_TABLE, rounded as quoted;
* RANGES and DIRECTIONS: a range must hold the values it summarises, and a direction
  ("tests higher", "neither control reaches conv", "about its parameters") must follow from
  the data (differences of test accuracy: by the 2-standard-error rule below);
* FALSE phrases must occur in none of the texts;
* the weight-layer counts: dense2 has one layer with weights fewer than conv (3 against 4).

Fast: no TensorFlow, no graders import; c1w3_checks imports only the standard library at
import time (checked below), the notebook is read as JSON. tests/test_lesson_numbers.py
checks that every number in the notebook is *some* fact; this file checks *which* fact.
tests/test_lesson.py checks the multiple-choice answers against their options.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKS_PY = ROOT / "source" / "c1w3_convolutions" / "c1w3_checks.py"
NOTEBOOK = ROOT / "source" / "c1w3_convolutions" / "c1w3_convolutions.ipynb"
HIDDEN_PY = ROOT / "graders" / "hidden.py"
REFERENCE_PY = ROOT / "graders" / "reference.py"
LESSON_MD = ROOT / "docs" / "lesson.md"
POOLING_MD = ROOT / "docs" / "pooling_seeds.md"

MODELS = ("dense", "dense2", "dense_wide", "conv", "no_pooling")


# ----------------------------------------------------------------------------- the data


@cache
def checks():
    """c1w3_checks loaded from its file (its import-time imports are standard library only)."""
    spec = importlib.util.spec_from_file_location("_c1w3_checks_for_claims", CHECKS_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table():
    return checks().SEED_TABLE


def seeds():
    return checks().SEED_TABLE_SEEDS


def acc(model):
    return table()[model]["test_acc"]


def points(a, b):
    """Test accuracy of `a` minus `b`, in percentage points."""
    return 100 * (acc(a) - acc(b))


def se_points(a, b):
    """Standard error of points(a, b): each mean's sd / sqrt(seeds), combined in quadrature."""
    n = seeds()
    return 100 * math.hypot(table()[a]["test_sd"], table()[b]["test_sd"]) / math.sqrt(n)


# The rule for a direction: the difference of two 5-seed means is "supported" (a text may say
# one model tests higher than another) only if it is more than 2 combined standard errors,
# |mean_a - mean_b| > 2 * sqrt(sd_a^2 / 5 + sd_b^2 / 5). Within that, the direction is noise
# and a text may quote the difference only as within noise, never as a ranking or an effect.
def supported(a, b):
    return abs(points(a, b)) > 2 * se_points(a, b)


def ratio(key, a, b):
    return table()[a][key] / table()[b][key]


def gap(model):
    return table()[model]["train_acc"] - table()[model]["test_acc"]


def shift2(model):
    return table()[model]["shift2_acc"]


def share_closed_by_dense_wide():
    """The share of conv's gain over dense that the compute control closes."""
    return points("dense_wide", "dense") / points("conv", "dense")


def dense_width(macs):
    """Hidden width of a Flatten-Dense(w)-Dense(10) model with `macs` multiply-adds per image."""
    return macs / (28 * 28 + 10)


# --------------------------------------------------------------------------- the texts


def _flat(text):
    return " ".join(text.split())


@cache
def notebook_cells():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = {}
    for index, cell in enumerate(nb["cells"]):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cells[grade_id or f"cell {index}"] = "".join(cell["source"])
    return cells


def mark_scheme():
    source = notebook_cells()["explain_accuracy_gain"]
    inside = re.search(r"=== BEGIN MARK SCHEME ===(.*)=== END MARK SCHEME ===", source, re.S)
    assert inside, "explain_accuracy_gain has no mark scheme"
    return inside.group(1)


class _Report:
    """Stands in for graders.report.Report: keeps the messages."""

    def __init__(self, grade_id, max_points):
        self.lines = []

    def item(self, ok, message):
        self.lines.append(message)


class _Reference:
    """Stands in for graders.reference: the right letters, from its RIGHT_OPTION."""

    def __init__(self):
        tree = ast.parse(REFERENCE_PY.read_text(encoding="utf-8"))
        (node,) = [n for n in tree.body if isinstance(n, ast.Assign)
                   and ast.unparse(n.targets[0]) == "RIGHT_OPTION"]  # fmt: skip
        self.right = ast.literal_eval(node.value)

    def right_letter(self, student_id, name):
        want = checks().CHOICES[name][self.right[name]]
        return next(k for k, o in checks().choices_for(student_id, name).items() if o == want)

    # 6e's ratios on the lab's model, as the table's conv and no_pooling rows count it
    def without_pooling(self, spec):
        return "no_pooling"

    def expected_total(self, spec):
        return checks().SEED_TABLE[spec]["params"]

    def macs_per_image(self, spec):
        return checks().SEED_TABLE[spec]["macs"]

    def multiplications(self, spec):
        return ()


@cache
def grader_messages():
    """The messages of graders/hidden.py's judges that quote SEED_TABLE, rendered from it.

    The two judge functions are taken from hidden.py's source (ast) and run with stand-ins
    for what they call, so this needs neither the graders package nor numpy.
    """
    tree = ast.parse(HIDDEN_PY.read_text(encoding="utf-8"))
    wanted = {"judge_pooling_tradeoff", "judge_conclusion", "_choice", "_lettered_item", "_counts"}
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    assert {n.name for n in nodes} == wanted, "graders/hidden.py: a judge was renamed"

    answers = {"judge_pooling_tradeoff": ["?", "?", 0, 0, "?", None, None, None],
               "judge_conclusion": ["?", "?"]}  # fmt: skip
    namespace = {
        "Judged": tuple,
        "Report": _Report,
        "POINTS": {"pooling_tradeoff": 8, "conclusion": 4},
        "_checks": checks,
        "_answers": lambda payload, n: payload["answers"],
        # whose letters: any student's (the messages quote the option, not only the letter)
        "graded_id": lambda grade_id, payload, graded_as: ("claims", _Report(grade_id, 0)),
        "graded_spec": lambda grade_id, payload, graded_as: ("conv", _Report(grade_id, 0)),
        "reference": _Reference(),
    }
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(HIDDEN_PY), "exec"), namespace)
    out = {}
    for name, given in answers.items():
        report, _ = namespace[name]({"answers": given}, None)
        out[name] = " | ".join(report.lines)
    return out


def text(where):
    """The text at `where`, whitespace collapsed (phrases are matched across line breaks)."""
    if where == "mark scheme":
        return _flat(mark_scheme())
    if where.startswith("notebook:"):
        return _flat(notebook_cells()[where.split(":", 1)[1]])
    if where.startswith("options:"):
        return _flat(" | ".join(checks().CHOICES[where.split(":", 1)[1]]))
    if where.startswith("grader:"):
        return _flat(grader_messages()[where.split(":", 1)[1]])
    if where == "graders/hidden.py":
        return _flat(HIDDEN_PY.read_text(encoding="utf-8"))
    return _flat((ROOT / where).read_text(encoding="utf-8"))


def all_texts():
    """Every text the claims live in, for the false phrases."""
    texts = {f"notebook:{k}": v for k, v in notebook_cells().items()}
    texts |= {f"grader:{k}": v for k, v in grader_messages().items()}
    texts |= {f"options:{k}": " | ".join(v) for k, v in checks().CHOICES.items()}
    texts["graders/hidden.py"] = HIDDEN_PY.read_text(encoding="utf-8")
    texts["docs/lesson.md"] = LESSON_MD.read_text(encoding="utf-8")
    texts["docs/pooling_seeds.md"] = POOLING_MD.read_text(encoding="utf-8")
    return {where: _flat(t) for where, t in texts.items()}


# ------------------------------------------------- 1. quoted numbers, rounded as quoted

NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+|[+-]?\d+(?:\.\d+)?")
IN_6E = "notebook:instructions_9"
IN_6F = "notebook:instructions_conclusion"
POOLING_BUYS = "options:pooling_buys"  # 6f's options, printed in each student's order
IN_6E_Q = "notebook:instructions_pooling_questions"
MS = "mark scheme"
PS = "docs/pooling_seeds.md"
LESSON = "docs/lesson.md"
CONCLUSION = "grader:judge_conclusion"
TRADEOFF = "grader:judge_pooling_tradeoff"

# SEED_TABLE keeps 4 decimals; docs/pooling_seeds.md's paired table was computed from the
# raw runs, so a difference of two table means may differ from it by 2 x 0.00005.
TABLE_ROUNDING = 0.00005


def quote(where, phrase, *values, slack=0.0):
    """`phrase` must occur at `where`; its numbers, in order, are `values` rounded as quoted:
    within half a unit of the last quoted digit (either way at a tie), plus `slack`."""
    return pytest.param(where, phrase, values, slack, id=f"{where}: {phrase[:50]}")


def row(model, *keys):
    return [table()[model][key] for key in keys]


TABLE_KEYS = ("params", "macs", "train_acc", "train_sd", "test_acc", "test_sd")
NP_GAIN = points("no_pooling", "conv")  # 1.66 points
NP_PARAMS = ratio("params", "no_pooling", "conv")  # 20.9
NP_MACS = ratio("macs", "no_pooling", "conv")  # 5.56
PAIRED = 2 * TABLE_ROUNDING
D2 = 2  # the "2" in the name dense2 (and in "2-pixel"), read as a number like the others
DW = dense_width(table()["dense_wide"]["macs"])  # the compute control's width: 1,780

QUOTES = [
    quote(IN_6E, "one hidden Dense layer of 1,780 units", DW),
    # 6f, pooling_buys: the right option
    quote(POOLING_BUYS, "a far smaller model, for 1.7 points less test accuracy", NP_GAIN),
    quote("notebook:conv_vs_dense_answer", "113,386 against 101,770",
          *row("conv", "params"), *row("dense", "params")),
    # Part 7's mark scheme
    quote(MS, "the same model without pooling tests 1.7 points higher", NP_GAIN),
    quote(MS, "conv about 0.89, dense about 0.87 in the course's runs", acc("conv"), acc("dense")),
    quote(MS, "the model without it tests 1.7 points higher, with 21 times the parameters and "
              "5.6 times the multiply-adds",
          NP_GAIN, NP_PARAMS, NP_MACS),
    quote(MS, "tests 0.872, 0.4 points above dense", acc("dense2"), points("dense2", "dense")),
    quote(MS, "tests 0.877: 0.9 of conv's 2.2 points over dense",
          acc("dense_wide"), points("dense_wide", "dense"), points("conv", "dense")),
    quote(MS, "what is left, about 1.3 points", points("conv", "dense_wide")),
    quote(MS, "2-pixel shift than conv (0.714 vs 0.776)", D2, shift2("no_pooling"), shift2("conv")),
    quote(MS, "(113,386 vs 101,770)", *row("conv", "params"), *row("dense", "params")),
    # graders/hidden.py's messages, rendered as a student reads them
    quote(CONCLUSION, "without pooling the model tests higher, 0.9064 vs 0.8898",
          acc("no_pooling"), acc("conv")),
    quote(CONCLUSION, "of conv's 2.2 points over dense", points("conv", "dense")),
    quote(CONCLUSION, "dense2, about as many parameters, gets 0.4", D2, points("dense2", "dense")),
    quote(CONCLUSION, "dense_wide, as much compute, 0.9)", points("dense_wide", "dense")),
    quote(CONCLUSION, "(without it: 21x the parameters, at a cost of 1.7 points of test accuracy "
                      "(0.8898 vs 0.9064)",
          NP_PARAMS, NP_GAIN, acc("conv"), acc("no_pooling")),
    # (6e's ratios are asked of each student's own model; rendered here on the lab's)
    quote(TRADEOFF, "parameter ratio, without pooling over with: 20.90 (rounded: 20.9)",
          NP_PARAMS, NP_PARAMS),
    quote(TRADEOFF, "multiply-add ratio, without pooling over with: 5.56 (rounded: 5.6)",
          NP_MACS, NP_MACS),
    quote(TRADEOFF, "2-pixel shift: 'conv' (conv 0.7760, no_pooling 0.7143)",
          D2, shift2("conv"), shift2("no_pooling")),
    # docs/pooling_seeds.md: the controls
    quote(PS, "(118,282 vs 113,386, +4 %)", *row("dense2", "params"), *row("conv", "params"),
          100 * (ratio("params", "dense2", "conv") - 1)),
    quote(PS, "Per image the conv model does 14x the dense model's multiply-adds",
          ratio("macs", "conv", "dense")),
    quote(PS, "w = 1780 gives 1,413,320, 0.013 % below conv's 1,413,504",
          DW, *row("dense_wide", "macs"), 100 * (1 - ratio("macs", "dense_wide", "conv")),
          *row("conv", "macs")),
    quote(PS, "(1779 and 1781 miss by 0.07 % and 0.04 %)", 1779, 1781,
          *(100 * abs(1 - w * 794 / table()["conv"]["macs"]) for w in (1779, 1781))),
    quote(PS, "It has 12.5x conv's parameters", ratio("params", "dense_wide", "conv")),
    # its results table is SEED_TABLE
    quote(PS, "| dense | 101,770 | 101,632 | 0.8908 ± 0.0034 | 0.8683 ± 0.0031 |",
          *row("dense", *TABLE_KEYS)),
    quote(PS, "| dense2 | 118,282 | 118,016 | 0.8956 ± 0.0035 | 0.8723 ± 0.0042 |",
          D2, *row("dense2", *TABLE_KEYS)),
    quote(PS, "| dense_wide | 1,415,110 | 1,413,320 | 0.9029 ± 0.0010 | 0.8772 ± 0.0018 |",
          *row("dense_wide", *TABLE_KEYS)),
    quote(PS, "| conv | 113,386 | 1,413,504 | 0.9048 ± 0.0023 | 0.8898 ± 0.0021 |",
          *row("conv", *TABLE_KEYS)),
    quote(PS, "| no_pooling | 2,370,282 | 7,863,680 | 0.9552 ± 0.0033 | 0.9064 ± 0.0013 |",
          *row("no_pooling", *TABLE_KEYS)),
    # its paired table's mean column, conv minus each model (from the raw runs)
    quote(PS, "| dense | +0.0216 |", acc("conv") - acc("dense"), slack=PAIRED),
    quote(PS, "| dense2 | +0.0175 |", D2, acc("conv") - acc("dense2"), slack=PAIRED),
    quote(PS, "| dense_wide | +0.0126 |", acc("conv") - acc("dense_wide"), slack=PAIRED),
    quote(PS, "| no_pooling | -0.0166 |", acc("conv") - acc("no_pooling"), slack=PAIRED),
    quote(PS, "dense2 is 0.4 points above dense, within the seeds' noise; dense_wide "
              "recovers 0.9 of conv's 2.2",
          D2, points("dense2", "dense"), points("dense_wide", "dense"), points("conv", "dense")),
    quote(PS, "with the same multiply-adds and 1/12.5 of the parameters",
          1, ratio("params", "dense_wide", "conv")),
    quote(PS, "conv's is 0.015", gap("conv")),
    quote(PS, "no_pooling / conv: parameters x20.9, multiply-adds x5.56",
          NP_PARAMS, NP_MACS),
    # a ratio of two gaps, each from two rounded means: up to 2e-4 / 0.0150 + 2e-4 / 0.0488
    # relative, of 3.25: 0.06
    quote(PS, "with 3.2x the gap", gap("no_pooling") / gap("conv"), slack=0.06),
    quote(PS, "although no_pooling starts 1.7 points higher", NP_GAIN),
]  # fmt: skip


def _numbers(phrase):
    """The numbers quoted in `phrase`: (as written, value, size of the last digit)."""
    out = []
    for match in NUMBER.finditer(phrase):
        literal = match.group(0).replace(",", "").removeprefix("+")
        out.append((literal, float(literal), 10.0 ** Decimal(literal).as_tuple().exponent))
    return out


@pytest.mark.parametrize("where, phrase, values, slack", QUOTES)
def test_a_quoted_number_is_the_seed_table_rounded_as_quoted(where, phrase, values, slack):
    assert phrase in text(where), f"{where} no longer says {phrase!r}: update QUOTES"
    quoted = _numbers(phrase)
    assert len(quoted) == len(values), f"{phrase!r}: {len(quoted)} numbers, {len(values)} values"
    for (literal, number, unit), value in zip(quoted, values, strict=True):
        assert abs(number - value) <= unit / 2 + slack + 1e-9, (
            f"{where}: {phrase!r} quotes {literal}, SEED_TABLE gives {value:.6g}"
        )


def test_the_mark_scheme_share_of_the_gain_is_what_dense_wide_closes():
    """'0.9 of conv's 2.2 points': the share it states is the share computed (0.41)."""
    assert "0.9 of conv's 2.2 points over dense" in text(MS)
    assert round(0.9 / 2.2, 2) == round(share_closed_by_dense_wide(), 2) == 0.41
    assert 0 < share_closed_by_dense_wide() < 1  # "compute only part"


# -------------------------------------------------------------------- 2. ranges

RANGE = re.compile(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)")

# (where, phrase, the values the range summarises, must its ends be their min and max?)
RANGES = [
    pytest.param(PS, "at a cost of 1-2 points of test accuracy", [NP_GAIN], False,
                 id="pooling's cost"),
    pytest.param(PS, "Their train-test gap (0.023-0.026)", [gap("dense2"), gap("dense_wide")],
                 True, id="the controls' gaps"),
]  # fmt: skip


@pytest.mark.parametrize("where, phrase, values, ends", RANGES)
def test_a_quoted_range_holds_its_values(where, phrase, values, ends):
    assert phrase in text(where), f"{where} no longer says {phrase!r}: update RANGES"
    ends_quoted = RANGE.search(phrase).groups()
    lo, hi = map(float, ends_quoted)
    unit = 10.0 ** -max(len(x.partition(".")[2]) for x in ends_quoted)
    assert lo - unit / 2 <= min(values) and max(values) <= hi + unit / 2, (phrase, values)
    if ends:
        assert abs(min(values) - lo) <= unit / 2 and abs(max(values) - hi) <= unit / 2


# ------------------------------------------------- 3. directions and "about the same"


def about(a, b, key, within=0.1):
    """`a` has about `b`'s parameters or multiply-adds: within 10 % (or `within`)."""
    return abs(ratio(key, a, b) - 1) <= within


def beats(a, b):
    """`a` tests higher than `b`, by the 2-SE rule."""
    return acc(a) > acc(b) and supported(a, b)


def claim(where, phrase, holds):
    return pytest.param(where, phrase, holds, id=f"{where}: {phrase[:50]}")


NO_POOLING_COSTS = NP_PARAMS > 10 and NP_MACS > 1
DENSE2_ABOUT_CONV = about("dense2", "conv", "params")
DENSE_WIDE_ABOUT_CONV = about("dense_wide", "conv", "macs", within=0.01)

DIRECTIONS = [
    claim(POOLING_BUYS, "a far smaller model", NO_POOLING_COSTS),
    claim(MS, "the same model without pooling tests 1.7 points higher",
          beats("no_pooling", "conv")),
    claim(MS, "depth explains little", not supported("dense2", "dense")),
    claim(MS, "and compute only part",
          beats("dense_wide", "dense") and beats("conv", "dense_wide")),
    claim(MS, "the no-pooling model keeps less accuracy under a 2-pixel shift than conv",
          shift2("no_pooling") < shift2("conv")),
    # conv's advantage over dense on centred images (2.2 points) against at 2 px (21 points)
    claim(MS, "conv's advantage at 0 px is much smaller than under shifts",
          2 * points("conv", "dense") < 100 * (shift2("conv") - shift2("dense"))),
    claim(MS, "conv kept more accuracy than dense under shifts", shift2("conv") > shift2("dense")),
    claim("notebook:explain_accuracy_gain",
          "the conv model does **not** have fewer parameters than the dense model",
          table()["conv"]["params"] > table()["dense"]["params"]),
    claim(CONCLUSION, "without pooling the model tests higher", beats("no_pooling", "conv")),
    claim(CONCLUSION, "a far smaller model", NO_POOLING_COSTS),
    claim(LESSON, "without pooling the model tests higher, and neither control reaches conv",
          beats("no_pooling", "conv") and beats("conv", "dense2") and beats("conv", "dense_wide")),
    claim(LESSON, "removing pooling raises test accuracy", beats("no_pooling", "conv")),
    claim(PS, "If either control reached conv's test accuracy",
          beats("conv", "dense2") and beats("conv", "dense_wide")),
    claim(PS, "make it small, cheap and less overfit",
          NO_POOLING_COSTS and gap("conv") < gap("no_pooling")),
    claim(PS, "is at or above dense's", min(gap("dense2"), gap("dense_wide")) >= gap("dense")),
    claim(PS, "with a twelfth of its multiply-adds", round(ratio("macs", "conv", "dense2")) == 12),
    claim(PS, "conv still leads dense_wide", beats("conv", "dense_wide")),
    # 6e's questions: the answers the graders compute are clear-cut in the data
    claim(IN_6E_Q, "Which model has the highest mean test accuracy?",
          all(beats("no_pooling", m) for m in MODELS[:-1])),
    claim(IN_6E_Q, "Which model has the largest train-test gap",
          max(MODELS, key=gap) == "no_pooling"),
    claim(IN_6E_Q, "which keeps the higher test accuracy",
          shift2("conv") != shift2("no_pooling")),
    # "about the same": parameters within 10 %, multiply-adds within 1 %
    claim(IN_6E, "about the conv model's parameters", DENSE2_ABOUT_CONV),
    claim(IN_6E, "about the conv model's multiply-adds per image", DENSE_WIDE_ABOUT_CONV),
    claim(IN_6F, "`dense2` has about its parameters", DENSE2_ABOUT_CONV),
    claim(IN_6F, "`dense_wide` about its multiply-adds", DENSE_WIDE_ABOUT_CONV),
    claim(MS, "with two hidden layers and about the same parameters", DENSE2_ABOUT_CONV),
    claim(MS, "with about the same multiply-adds", DENSE_WIDE_ABOUT_CONV),
    claim(CONCLUSION, "dense2, about as many parameters", DENSE2_ABOUT_CONV),
    claim(CONCLUSION, "dense_wide, as much compute", DENSE_WIDE_ABOUT_CONV),
    claim(LESSON, "about the conv model's parameters", DENSE2_ABOUT_CONV),
    claim(LESSON, "about the conv model's multiply-adds per image", DENSE_WIDE_ABOUT_CONV),
    claim(PS, "lands at about the conv model's parameters", DENSE2_ABOUT_CONV),
]  # fmt: skip


@pytest.mark.parametrize("where, phrase, holds", DIRECTIONS)
def test_a_stated_direction_follows_from_the_seed_table(where, phrase, holds):
    assert phrase in text(where), f"{where} no longer says {phrase!r}: update DIRECTIONS"
    assert holds, f"{where}: {phrase!r} does not follow from SEED_TABLE"


def test_the_two_se_rule_sorts_the_differences_the_lesson_argues_with():
    """conv > dense, no_pooling > conv, dense_wide > dense and conv > dense_wide are supported;
    dense2 - dense (0.40 points, 2 SE = 0.47) is not."""
    for a, b in (("conv", "dense"), ("no_pooling", "conv"), ("dense_wide", "dense"),
                 ("conv", "dense_wide"), ("conv", "dense2")):  # fmt: skip
        assert beats(a, b), (a, b, points(a, b), 2 * se_points(a, b))
    assert not supported("dense2", "dense"), (
        points("dense2", "dense"),
        se_points("dense2", "dense"),
    )
    assert seeds() == 5 and "**5 times each**" in text(IN_6E)


# ------------------------------------------------------------- 4. weight layers


def _weight_layers(listing):
    return len(re.findall(r"\b(?:Conv2D|Dense)\(", listing))


def _model_listing(name):
    """The layers column of docs/pooling_seeds.md's model table."""
    row = re.search(rf"^\| `{name}` \| ([^|]+) \|", POOLING_MD.read_text(encoding="utf-8"), re.M)
    assert row, f"docs/pooling_seeds.md: no row for {name}"
    return row.group(1)


def _dense_params(listing):
    """Parameters of a Flatten-Dense-...-Dense model on 784 pixels."""
    total, inputs = 0, 28 * 28
    for units in map(int, re.findall(r"Dense\((\d+)", listing)):
        total, inputs = total + (inputs + 1) * units, units
    return total


def _lab_params_and_weight_layers():
    (h, w, c), total, layers = checks().LAB_INPUT_SHAPE, 0, 0
    for layer in checks().LAB_LAYERS:
        if layer["kind"] == "Conv2D":
            k = layer["kernel"][0]
            total += (k * k * c + 1) * layer["filters"]
            h, w, c, layers = h - k + 1, w - k + 1, layer["filters"], layers + 1
        elif layer["kind"] == "MaxPooling2D":
            h, w = h // layer["pool"][0], w // layer["pool"][0]
        elif layer["kind"] == "Flatten":
            h, w, c = 1, 1, h * w * c
        else:
            total, c, layers = total + (c + 1) * layer["units"], layer["units"], layers + 1
    return total, layers


def test_dense2_has_one_layer_with_weights_fewer_than_conv():
    """conv: 2 Conv2D + 2 Dense = 4; dense2: 3 Dense; dense: 2. The listings are the models
    SEED_TABLE measured (their parameter counts match it)."""
    conv_params, conv_layers = _lab_params_and_weight_layers()
    assert conv_params == table()["conv"]["params"] and conv_layers == 4
    for name, layers in (("dense", 2), ("dense2", 3), ("dense_wide", 2)):
        listing = _model_listing(name)
        assert _dense_params(listing) == table()[name]["params"], name
        assert _weight_layers(listing) == layers, name
    given = notebook_cells()["overfitting_table"]  # Part 6e builds the models it prints
    assert re.search(r'"dense2": \[dense\(128\), dense\(128\)\]', given)  # + the Dense(10) head
    # what the texts say about it
    assert "as many layers with weights as the conv model has after its first one" in text(IN_6E)
    assert "(and one layer with weights fewer)" in text(IN_6F)
    assert "two hidden Dense layers of 128" in text(IN_6E)
    assert (
        "The conv model has four weight layers (two conv, two dense), the dense baseline two"
        in (text(PS))
    )


# ------------------------------------------------------------- 5. false phrases

# Multiple-choice distractors are false on purpose, and the mark scheme describes wrong
# answers (its "0:" levels, the quoted "trap"): those are left out of the scan.
_OPTION = re.compile(r'`"[a-d]"` [^`]*')
_ZERO_LEVEL = re.compile(r"\b0: [^.]*\.")
_QUOTED_FALSE = re.compile(r'"[^"]*" is false')


def _scannable(where, body):
    body = _OPTION.sub(" ", body)
    if where == "notebook:explain_accuracy_gain":
        body = _QUOTED_FALSE.sub(" ", _ZERO_LEVEL.sub(" ", body))
    return body


_DENSE2_SE = "dense2 - dense is 0.40 points, 2 SE = 0.47: within the seeds' noise"
_LAYERS = r"(?:weight layers|layers with weights)"
_AFTER_FIRST = r" model has after its first| has after its first"  # 6e: true of dense2


def false(pattern, why, example):
    """A regex no text may match, why it is false, and a sentence it catches."""
    return pytest.param(pattern, why, example, id=example[:50])


FALSE = [
    false(r"matches its depth", "dense2 has one layer with weights fewer than conv (3 vs 4)",
          "dense2 matches its depth"),
    false(r"small cost in (?:test )?accuracy",
          "pooling costs 1.7 points, 3/4 of conv's 2.2-point gain over dense: not small",
          "pooling buys a smaller model at a small cost in accuracy"),
    false(r"neither depth nor compute", "compute closes 0.9 of the 2.2 points (2 SE: supported)",
          "neither depth nor compute explains any of it"),
    false(r"depth explains(?! little| nothing| none| no )",
          f"depth explains little or nothing measurable: {_DENSE2_SE}",
          "depth explains 0.4 of the gain"),
    false(rf"(?:same number of|as many) {_LAYERS} as (?:the )?conv(?!{_AFTER_FIRST})",
          "dense2 has 3 layers with weights, conv 4",
          "dense2 has as many layers with weights as the conv model"),
    false(rf"dense2\W[^.;]{{0,60}}\b(?:four|4) {_LAYERS}", "dense2 has 3 layers with weights",
          "dense2, with four weight layers"),
    false(rf"(?:conv|lab's) model has (?:two|three|five|2|3|5) {_LAYERS}",
          "conv has 4 (2 Conv2D, 2 Dense)", "the conv model has three layers with weights"),
    false(r"as deep as the conv model|the conv model's depth|the same depth",
          "dense2 has one layer with weights fewer", "dense2 is as deep as the conv model"),
    false(r"(?<!removing )(?<!without )pooling (?:raises|improves|increases|boosts|adds) "
          r"(?:the )?(?:test )?accuracy",
          "no_pooling tests 1.7 points higher than conv", "pooling raises test accuracy"),
    false(r"pooling (?:is|explains) (?:why|the gain|the reason)", "no_pooling tests higher",
          "pooling is why accuracy goes up"),
    false(r"conv(?: model)? (?:has|needs|uses) fewer parameters", "conv 113,386 > dense 101,770",
          "the conv model has fewer parameters"),
    false(r"conv(?: model)? (?:has|reaches|gets) the highest (?:mean )?test accuracy",
          "no_pooling has, at 2 SE", "conv has the highest test accuracy"),
    false(r"\b(?:dense2|dense_wide|either control|the (?:depth|compute) control) "
          r"(?:matches|reaches|equals|ties|beats) conv",
          "conv beats both controls at 2 SE", "dense_wide matches conv"),
    false(r"compute (?:explains|accounts for) (?:the|all|most)",
          "dense_wide closes 0.9 of 2.2 points (41 %)", "compute explains the gain"),
    false(r"dense2 (?:beats|outperforms|is better than|tests higher than) (?:the )?dense\b",
          _DENSE2_SE, "dense2 beats dense"),
    false(r"no_pooling (?:overfits less|has a smaller gap)", "no_pooling's gap (0.049) is largest",
          "no_pooling overfits less"),
    false(r"(?:dense_wide|compute control)[^.;,]{0,40}about (?:the conv model's|its|as many) param",
          "dense_wide has 12.5x conv's parameters", "dense_wide has about its parameters"),
    false(r"dense2[^.;,]{0,40}about (?:the conv model's|its|as much) (?:multiply-adds|compute)",
          "dense2 has 1/12 of conv's multiply-adds", "dense2 does about its multiply-adds"),
    false(r"shift tolerance explains the (?:test-set )?gain",
          "conv leads dense by 2.2 points at 0 px, by 21 at 2 px: not the test-set gain",
          "shift tolerance explains the gain"),
]  # fmt: skip

# Phrases that state the dense2 - dense difference as a ranking or an effect without saying
# it is within noise (the 2-SE rule).
UNSUPPORTED = [
    pytest.param(
        MS, r"0\.4 points above dense(?![^.;)]*noise)", id="mark scheme: 0.4 points above dense"),
    pytest.param(
        CONCLUSION, r"gets \d\.\d(?![^;)]*noise)", id="grader conclusion: dense2 gets 0.4"),
    pytest.param(
        PS, r"[Dd]epth and compute close part of the gap|dense2 recovers \d",
        id="pooling_seeds: depth and compute close part of the gap"),
]  # fmt: skip


@pytest.mark.parametrize("pattern, why, example", FALSE)
def test_no_text_says_what_the_seed_table_contradicts(pattern, why, example):
    assert re.search(pattern, example), f"{pattern!r} does not even catch {example!r}"
    found = []
    for where, body in all_texts().items():
        for match in re.finditer(pattern, _scannable(where, body)):
            found.append(f"{where}: ...{body[max(0, match.start() - 50) : match.end() + 30]}...")
    assert not found, f"false ({why}):\n" + "\n".join(found)


@pytest.mark.parametrize("where, pattern", UNSUPPORTED)
def test_a_difference_within_noise_is_never_a_ranking(where, pattern):
    assert not supported("dense2", "dense"), "the data changed: revisit UNSUPPORTED"
    match = re.search(pattern, _scannable(where, text(where)))
    assert not match, f"{where}: {match.group(0)!r} without 'within noise' ({_DENSE2_SE})"


def test_the_false_phrase_scan_reads_every_text():
    """The scans above cannot pass by reading nothing."""
    texts = all_texts()
    assert "=== BEGIN MARK SCHEME ===" in texts["notebook:explain_accuracy_gain"]
    assert "what made the gain" in texts[CONCLUSION]
    assert "parameter ratio" in texts[TRADEOFF]
    assert "neither control reaches conv" in texts["docs/lesson.md"]
    assert "Why the controls" in texts[PS]
    # the exclusions drop the distractors and the wrong answers, not the answers quoted above
    scanned = _scannable("notebook:explain_accuracy_gain", texts["notebook:explain_accuracy_gain"])
    assert "about 1.3 points" in scanned and "0.714 vs 0.776" in scanned
    assert "conv wins because it has fewer parameters" not in scanned
    assert "a far smaller model" not in _scannable(IN_6F, texts[IN_6F])


def test_c1w3_checks_imports_no_tensorflow_at_import_time():
    code = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("c", {str(CHECKS_PY)!r})
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        heavy = sorted({{"tensorflow", "keras", "numpy"}} & set(sys.modules))
        assert not heavy, heavy
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_every_model_and_key_is_in_the_table():
    keys = {"train_acc", "train_sd", "test_acc", "test_sd", "shift2_acc", "params", "macs"}
    assert tuple(table()) == MODELS
    assert all(set(row) == keys for row in table().values())
    assert _numbers("0.4 of 2.2") == [("0.4", 0.4, 0.1), ("2.2", 2.2, 0.1)]
