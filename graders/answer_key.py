"""Each student's answer key, item by item, as the graders judge it: what two students must
write for full marks, so a test can measure how much of it two ids share (tests/test_overlap.py).

One row per item a Report scores (an item is worth its check's points over its items). A
value is what full marks need: a number, a shape, a letter, or for a check on code the inputs
the grader calls it on and the outputs it compares; class-wide values say what they are
("the lab's 7 layers"). The readings of a run (shift_reading, conv_vs_dense) are what a run
of the notebook measures: the same for every student whose run is the same.
"""

from __future__ import annotations

from typing import NamedTuple

from graders import hidden, public_checks, reference


class Item(NamedTuple):
    grade_id: str
    name: str
    points: float
    value: object


def _rows(grade_id: str, values: dict) -> list[Item]:
    share = hidden.POINTS[grade_id] / len(values)
    return [Item(grade_id, name, share, value) for name, value in values.items()]


def _layers(spec, shapes: bool, params: bool, total: bool) -> dict:
    expected = reference.expected_layers(spec)
    out = {}
    for index, (kind, shape, count) in enumerate(expected):
        if shapes and index < len(expected) - 1:
            out[f"shape {index}"] = shape
        if params and kind in ("Conv2D", "Dense"):
            out[f"params {index}"] = count
    if total:
        out["total"] = reference.expected_total(spec)
    return out


def _ratio(count, bare, spec) -> float:
    return round(count(bare) / count(spec), 1)


def answer_key(student_id: str) -> list[Item]:
    """Every automatically graded item of `student_id`'s notebook with what full marks need."""
    checks = public_checks()
    spec = reference.student_spec(student_id)
    table = checks.SEED_TABLE
    values = reference.values_per_image(spec)
    bare = reference.without_pooling(spec)

    def letter(name):
        return reference.right_letter(student_id, name)

    key = {
        "conv_model_architecture": {"layers": "the lab's 7 layers"},
        "conv_model_compiled": {"compile": "adam, sparse categorical crossentropy"},
        "predict_output_shapes": _layers(spec, True, False, False),
        "predict_param_counts": _layers(spec, False, True, True),
        "predict_values_per_image": {
            **{f"stage {i}": v for i, v in enumerate(values)},
            "fewer": "yes" if values[-1] < values[0] else "no",
        },
        "predict_no_pooling_variant": _layers(bare, True, True, True),
        "predict_beyond_summary": {
            "pool1 drops": reference.rows_dropped(spec)[0],
            "pool2 drops": reference.rows_dropped(spec)[1],
            "rows": reference.input_rows_used(spec),
            "unseen": reference.unseen_pixels(spec),
            **{f"mults {i}": m for i, m in enumerate(reference.multiplications(spec))},
        },
        "conv_test_accuracy": {"accuracy": "the lab's threshold"},
        "feature_extractor": {
            f"stage {i}": ("lab model, seed 3", hidden.probe_seed(student_id)) for i in range(4)
        },
        "weight_sharing": {"dense equivalent": reference.dense_equivalent_params(spec)},
        "shift_probe": {"relative change": ("batch", hidden.shift_seed(student_id))},
        "shift_reading": {"steadier": "pool2", "robust": "conv", "advantage": "larger"},
        "conv_vs_dense": {"gain": "the run's", "more": "conv", "biggest": "the run's"},
        "pooling_tradeoff": {
            "highest": max(table, key=lambda m: table[m]["test_acc"]),
            "largest gap": max(table, key=lambda m: table[m]["train_acc"] - table[m]["test_acc"]),
            "params ratio": _ratio(reference.expected_total, bare, spec),
            "macs ratio": _ratio(reference.macs_per_image, bare, spec),
            "shift kept": max(("conv", "no_pooling"), key=lambda m: table[m]["shift2_acc"]),
        },
        "conclusion": {name: letter(name) for name in ("gain_source", "pooling_buys")},
        "concept_questions": {
            "receptive field": reference.receptive_field(spec),
            **{name: letter(name) for name in ("why_five", "pooling_discards")},
        },
    }
    assert set(key) == set(hidden.POINTS), "every grade id has its answer key"
    return [item for grade_id, values in key.items() for item in _rows(grade_id, values)]


def shared_points(a: str, b: str) -> float:
    """Points whose full-marks answer is the same for students `a` and `b`."""
    return sum(x.points for x, y in zip(answer_key(a), answer_key(b), strict=True)
               if x.value == y.value)  # fmt: skip
