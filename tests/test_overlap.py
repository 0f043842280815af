"""How much of the automatic grade two students share: over 1,000 pairs of random ids, the
points whose full-marks answer (graders.answer_key) is the same for both. A classmate's
notebook copied under one's own id can score no more than those points from its answers.
"""

import random
import statistics

from graders import answer_key, hidden

PAIRS = 1_000
# Measured 2026-12-05 on the graders' own key (printed by the test): median 44.7 %, p90 51.7 %
# (57.1 % before the code checks called the student's function on inputs of their own and 6e's
# ratios were asked of their own model). The target is 30 %: the lab's model itself
# (architecture, compile, accuracy: 20 of 90 points), the readings of the seeded run (12) and of
# the given 5-seed table (4.8) are the same for every student by design. The ceiling (measured
# + 1.3 points) stops a change that makes more of the grade class-wide.
MEDIAN_CEILING = 0.46


def _ids(rng):
    return f"s{rng.randrange(10**9)}", f"s{rng.randrange(10**9)}"


def test_two_students_share_less_than_half_of_the_automatic_points(capsys):
    rng = random.Random(2026)
    total = sum(hidden.POINTS.values())
    shares = sorted(answer_key.shared_points(*_ids(rng)) / total for _ in range(PAIRS))
    median, p90 = statistics.median(shares), shares[int(0.9 * PAIRS)]
    with capsys.disabled():
        print(f"\nanswer overlap of two random ids over {PAIRS} pairs: median {median:.1%}, "
              f"90th percentile {p90:.1%}")  # fmt: skip
    assert median <= MEDIAN_CEILING


def test_the_key_covers_every_point_and_the_per_student_items_differ():
    """The key's items add up to each check's points; every check judged on the student's own
    model or letters (VARIANT_GRADE_IDS) and the two checks on code have an answer of their
    own for most pairs."""
    key = answer_key.answer_key("ada")
    for grade_id, points in hidden.POINTS.items():
        assert abs(sum(i.points for i in key if i.grade_id == grade_id) - points) < 1e-9
    rng = random.Random(5)
    pairs = [_ids(rng) for _ in range(200)]
    per_student = hidden.VARIANT_GRADE_IDS | {"feature_extractor", "shift_probe"}
    for grade_id in per_student:
        same = 0
        for a, b in pairs:
            ka, kb = (
                [i.value for i in answer_key.answer_key(x) if i.grade_id == grade_id]
                for x in (a, b)
            )
            same += ka == kb
        assert same / len(pairs) < 0.1, grade_id


def test_the_code_checks_call_the_function_on_the_students_own_inputs():
    assert hidden.probe_seed("ada") != hidden.probe_seed("bob")
    assert hidden.probe_seed(" ADA ") == hidden.probe_seed("ada")  # a slip of form is the id
    assert hidden.shift_seed(...) == hidden.SHIFT_SEED  # no id: the default inputs
