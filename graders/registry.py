"""One entry per automatically graded grade id: its points, the names it reads from the
notebook, and how it is judged. Plain data (no numpy, no TensorFlow), so the instructor's
tools in course/ read it without importing the kernel-side checks; graders/hidden.py binds
each entry to its collect and judge functions and checks that both cover the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass

STUDENT_ID = "STUDENT_ID"


@dataclass(frozen=True)
class Check:
    points: float
    # names read from the notebook's namespace; "name?" is read when there (an earlier answer
    # for error carried forward, a provided cell's measurement), None when not
    reads: tuple[str, ...]
    # judged only outside the kernel while autograding (a TensorFlow start and 70,000 images)
    deferred: bool = False
    # judged on the grading student's own model or option letters (c1w3_checks.variant_for,
    # choices_for): the notebook's declared STUDENT_ID is saved with the answers
    per_model: bool = False

    @property
    def answers(self) -> tuple[str, ...]:
        """The names this check judges (not the optional ones it also reads)."""
        return tuple(n for n in self.reads if not n.endswith("?") and n != STUDENT_ID)


# In the notebook's order.
CHECKS: dict[str, Check] = {
    "conv_model_architecture": Check(8, ("build_conv_model",)),
    "conv_model_compiled": Check(2, ("build_conv_model",)),
    "predict_output_shapes": Check(3, ("predicted_layers",), per_model=True),
    "predict_param_counts": Check(3, ("predicted_layers", "predicted_total"), per_model=True),
    "predict_values_per_image": Check(
        3, ("values_per_image", "fewer_values_than_pixels", "predicted_layers?"), per_model=True
    ),
    "predict_no_pooling_variant": Check(
        3, ("no_pooling_layers", "no_pooling_total"), per_model=True
    ),
    "predict_beyond_summary": Check(
        16,
        (
            "pool_rows_dropped",
            "input_rows_used",
            "unseen_pixels",
            "multiplications",
            "predicted_layers?",
        ),
        per_model=True,
    ),  # fmt: skip
    "conv_test_accuracy": Check(10, ("conv_model",), deferred=True),
    # STUDENT_ID? picks the inputs the function is called on (hidden.probe_seed, shift_seed)
    "feature_extractor": Check(4, ("stage_outputs", "STUDENT_ID?")),
    "weight_sharing": Check(
        4, ("dense_equivalent_params", "values_per_image?", "predicted_layers?"), per_model=True
    ),
    "shift_probe": Check(4, ("relative_change", "STUDENT_ID?")),
    "shift_reading": Check(
        6, ("steadier_stage", "robust_model", "advantage_at_0px", "shift_results?")
    ),
    "conv_vs_dense": Check(
        6,
        (
            "accuracy_gain_points",
            "more_parameters",
            "biggest_gain_class",
            "conv_test_acc?",
            "dense_test_acc?",
            "conv_params?",
            "dense_params?",
            "per_class?",
        ),
    ),  # fmt: skip
    "pooling_tradeoff": Check(
        8,
        (
            "highest_test_model",
            "largest_gap_model",
            "params_ratio",
            "macs_ratio",
            "shift_kept_by",
            "predicted_total?",
            "no_pooling_total?",
            "multiplications?",
        ),
        per_model=True,
    ),  # fmt: skip
    "conclusion": Check(4, ("gain_source", "pooling_buys"), per_model=True),
    "concept_questions": Check(
        6, ("receptive_field", "why_five", "pooling_discards"), per_model=True
    ),
}

POINTS = {grade_id: check.points for grade_id, check in CHECKS.items()}
DEFERRED_IN_AUTOGRADE = frozenset(g for g, check in CHECKS.items() if check.deferred)
VARIANT_GRADE_IDS = frozenset(g for g, check in CHECKS.items() if check.per_model)

# The locked cells whose recorded readings (c1w3_checks.record_readings) the verifier judges
# the run's answers against, never names an answer cell may have redefined.
READINGS_CELLS = ("train_dense_model", "train_conv_model", "run_shift_probe", "per_class_accuracy")
