"""The training cache's audit after a batch (course/audit.py), without training: which
students it picks, how it reads a hit and a trained model, and what a difference does. The
real retraining of a hit is in the sample class (conftest.graded_class, test_end_to_end)."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import audit
from course.context import GradingContext
from course.layout import COURSE_ROOT, Layout
from course.runner import GradingRun
from course.training_cache import DEFAULT_DIRNAME, DISABLED, TrainingCache
from graders import ASSIGNMENT
from graders import training_cache as tc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
KEY = "0123456789ab" + "f" * 52


def test_select_covers_every_entry_then_the_fraction():
    hits = {f"s{i:02d}": ["conv"] for i in range(40)} | {"dense_only": ["dense"]}
    chosen = audit.select(hits, 0.1, random.Random(0))
    assert "dense_only" in chosen and any(hits[s] == ["conv"] for s in chosen)
    assert len(chosen) == 5 == len(set(chosen))  # ceil(0.1 x 41)
    assert audit.select(hits, 0.0, random.Random(0)) == []
    assert audit.select({}, 0.5, random.Random(0)) == []
    both = {"a": ["conv", "dense"], "b": ["conv"], "c": ["dense"]}
    assert len(audit.select(both, 0.01, random.Random(1))) in (1, 2)  # one per entry at most


def _course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
    (course / DEFAULT_DIRNAME).mkdir()
    return course


def _graded(course: Path, student: str, hit: str | None, seed: int | None) -> None:
    """An autograded notebook whose training was served by entry `hit` (or trained for
    real), and (seed) a saved conv_model."""
    folder = course / "autograded" / student / ASSIGNMENT
    shutil.rmtree(folder / "_grading", ignore_errors=True)  # as SandboxedExecute does
    (folder / "_grading").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fit_lab_model(...)")]
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    if hit:
        tc.record_hit(hit, folder / "_grading")
    if seed is not None:
        import keras

        from graders import public_checks

        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        with public_checks().quiet():
            model.save(folder / "_grading" / "conv_model.keras")


def test_hits_and_trained_state_are_read_from_the_graded_files(tmp_path):
    course = _course(tmp_path)
    _graded(course, "hit", KEY, seed=1)
    _graded(course, "same", KEY, seed=1)
    _graded(course, "other", None, seed=2)
    layout = Layout(course)
    assert audit.hit_keys(layout.grading_dir("hit")) == ["0123456789ab"]
    assert audit.hit_keys(layout.grading_dir("other")) == []
    assert audit.hit_keys(tmp_path / "missing") == []
    (layout.grading_dir("other") / f"{tc.HITS}.json").write_text('{"keys": "not a list"}')
    assert audit.hit_keys(layout.grading_dir("other")) == []
    assert audit.trained_state(layout, "hit") == audit.trained_state(layout, "same")
    assert audit.trained_state(layout, "hit") != audit.trained_state(layout, "other")
    assert audit.trained_state(layout, "nobody") is None


# (seed of the real training's weights, its scores, what the entries give retrained on
# their own): the outcome. Seed 1 = the hit's bits, seed 2 = other bits.
CASES = {
    "identical": (1, 10.0, None, "identical"),
    "the entry itself differs": (2, 10.0, "different", "disabled"),
    "an entry cannot be checked": (2, 10.0, "skipped: another key", "disabled"),
    "the submission changed its weights": (2, 10.0, "identical", "flagged"),
    "the submission changed only its scores": (1, 0.0, None, "flagged"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_difference_is_blamed_on_the_cache_only_when_an_entry_differs(tmp_path, case):
    """The regrade here rewrites the saved model as a real training would; nbgrader's real
    regrade is the sample class's audit, a submission that changes when trained for real is
    tests/test_hostile_class.py's."""
    seed, score, entries, outcome = CASES[case]
    course = _course(tmp_path)
    names = ["a", "b", "c", "miss"]
    for name in names[:3]:
        _graded(course, name, KEY, seed=1)
    _graded(course, "miss", None, seed=3)
    regraded, checked = [], []

    def regrade(grading, student):
        assert "--TrainingCache.enabled=False" in grading.nbgrader_options()  # no cache
        regraded.append(student)
        _graded(grading.root, student, None, seed=seed)
        return GradingRun(student, True, 1.0)

    def read_scores(grading, student):
        return {"conv_test_accuracy": score if student in regraded else 10.0}

    def entries_check(folder, keys, timeout):
        checked.append(keys)
        return {k: entries for k in keys}

    runs = [GradingRun(name, True, 1.0) for name in names]
    result = audit.audit_batch(
        GradingContext.of(course), runs, fraction=0.01, seed=0,
        regrade=regrade, read_scores=read_scores, entries_check=entries_check,
    )  # fmt: skip
    assert sorted(result.hits) == ["a", "b", "c"]
    assert len(result.audited) == 1
    audited = next(iter(result.audited))
    config = TrainingCache(config=GradingContext.of(course).config)
    # The entries are retrained on their own only when the trained weights differ.
    assert checked == ([] if entries is None else [["0123456789ab"]])
    if outcome == "disabled":
        assert "weights differ" in result.disabled and "entry 0123456789ab" in result.disabled
        assert sorted(regraded) == ["a", "b", "c"]  # the audited one, then every other hit
        assert (course / DEFAULT_DIRNAME / DISABLED).exists()
        assert config.folder(course) is None  # no kernel sees the cache any more
        assert "DIFFERENT" in result.line() and not result.flagged
    else:
        assert not result.disabled and result.regraded == [] and regraded == [audited]
        assert config.folder(course) == (course / DEFAULT_DIRNAME).resolve()
        if outcome == "identical":
            assert result.identical and not result.flagged and "identical" in result.line()
        else:
            assert result.flagged == {audited: result.audited[audited]}
            assert "cache kept" in result.line() and audited in result.line()
    assert audit.read(course).audited == result.audited


def test_the_entries_checked_are_those_the_saved_model_came_from(tmp_path):
    """A student hit two entries (dense and conv); only the one whose trained weights are in
    their saved conv_model is retrained on its own when the weights differ."""
    import keras

    course = _course(tmp_path)
    folder = course / DEFAULT_DIRNAME
    _graded(course, "a", KEY, seed=1)
    keras.utils.set_random_seed(1)  # the same model _graded saved
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    for key, weights in (
        ("aaaaaaaaaaaa" + "0" * 52, [tc.array_digest(v.numpy()) for v in model.weights]),
        ("bbbbbbbbbbbb" + "0" * 52, [tc.array_digest(np.zeros(3, "float32"))]),
    ):
        (folder / key).mkdir()
        (folder / key / "entry.json").write_text(json.dumps({"key": key, "weights": weights}))
    layout = Layout(course)
    both = ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    saved = audit.saved_arrays(layout, "a")
    assert audit.entries_behind(saved, both, folder) == ["aaaaaaaaaaaa"]
    # Nothing to tell them apart by (no saved model, no cache folder): all of them.
    assert audit.entries_behind(audit.saved_arrays(layout, "nobody"), both, folder) == both
    assert audit.entries_behind(saved, both, None) == both
