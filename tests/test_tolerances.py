"""Every tolerance on a reading covers how far that reading moved between machines.

benchmarks/results/machine_spread.json holds the correct notebook run (seed 42) with 1-8
threads, AVX2 and AVX-512, TensorFlow 2.20 and 2.21. The graders accept a typed reading within
1.5x its spread there (a margin for machines nobody here could run), plus rounding.
"""

from __future__ import annotations

import json

from course.layout import COURSE_ROOT
from graders import hidden

ROWS = json.loads((COURSE_ROOT / "benchmarks/results/machine_spread.json").read_text())["rows"]
MARGIN = 1.5


def _spread(values):
    return max(values) - min(values)


def _both_ways(probe, name, pixels):
    return (probe["right"][name][str(pixels)] + probe["left"][name][str(pixels)]) / 2


def test_the_measurement_covers_threads_instruction_sets_and_two_tensorflow_versions():
    assert {r["threads"] for r in ROWS} >= {1, 2, 4, 8}
    assert {r["onednn_max_cpu_isa"] or "default" for r in ROWS} >= {"AVX2", "default"}
    assert len({r["tf_version"][:4] for r in ROWS}) >= 2


def test_the_gain_tolerance_covers_the_spread_of_the_gain():
    spread = _spread([r["gain_points"] for r in ROWS])
    assert spread > 0.3  # the measurement is real: machines do move it
    assert hidden.GAIN_TOLERANCE_POINTS >= MARGIN * spread + 0.05


def test_the_class_tie_covers_how_far_a_class_moves_against_the_largest_gain():
    moved = max(
        _spread([r["class_gains"][c] - max(r["class_gains"]) for r in ROWS]) for c in range(10)
    )
    assert hidden.CLASS_TIE >= MARGIN * moved


def test_the_shift_ties_cover_the_spread_of_each_comparison():
    changes, losses, advantages = [], [], []
    for r in ROWS:
        probe = r["shift_probe"]
        changes.append(_both_ways(probe, "pool2", 1) - _both_ways(probe, "conv2", 1))
        loss = {m: probe["right"][f"{m} accuracy"]["0"] - _both_ways(probe, f"{m} accuracy", 2)
                for m in ("conv", "dense")}  # fmt: skip
        losses.append(loss["conv"] - loss["dense"])
        at0 = probe["right"]["conv accuracy"]["0"] - probe["right"]["dense accuracy"]["0"]
        at2 = _both_ways(probe, "conv accuracy", 2) - _both_ways(probe, "dense accuracy", 2)
        advantages.append(at0 - at2)
    assert hidden.SHIFT_CHANGE_TIE >= MARGIN * _spread(changes)
    assert hidden.SHIFT_ACCURACY_TIE >= MARGIN * max(_spread(losses), _spread(advantages))
