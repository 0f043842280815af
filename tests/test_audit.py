"""The training cache's audit after a batch (course/audit.py), without training: which
students it picks, how it reads a hit and a trained model, and what a difference does. The
real retraining of a hit is in the sample class (conftest.graded_class, test_end_to_end)."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import nbformat
import pytest

from course import audit
from course.runner import GradingRun
from graders import ASSIGNMENT, COURSE_ROOT
from graders import training_cache as tc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HIT = (
    "Epoch 5/5\n[the grader's training cache: the stored result of this exact training "
    "(key {key}), bit for bit what training again gives]\n"
)


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
    (course / tc.DEFAULT_DIRNAME).mkdir()
    return course


def _graded(course: Path, student: str, text: str, seed: int | None) -> None:
    """An autograded notebook printing `text`, and (seed) a saved conv_model."""
    folder = course / "autograded" / student / ASSIGNMENT
    (folder / "_grading").mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("fit_lab_model(...)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.cells = [cell]
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
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
    _graded(course, "hit", HIT.format(key="0123456789ab"), seed=1)
    _graded(course, "same", HIT.format(key="0123456789ab"), seed=1)
    _graded(course, "other", "Epoch 5/5 - 40s\n", seed=2)
    notebook = course / "autograded" / "hit" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert audit.hit_keys(notebook) == ["0123456789ab"]
    assert audit.hit_keys(tmp_path / "missing.ipynb") == []
    assert audit.trained_state(course, "hit") == audit.trained_state(course, "same")
    assert audit.trained_state(course, "hit") != audit.trained_state(course, "other")
    assert audit.trained_state(course, "nobody") is None


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
        _graded(course, name, HIT.format(key="0123456789ab"), seed=1)
    _graded(course, "miss", "Epoch 5/5 - 40s\n", seed=3)
    regraded, checked = [], []

    def regrade(course_, student, assignment, db_url=None):
        assert os.environ[tc.SWITCH_ENV] == "off"  # the kernels get no cache
        regraded.append(student)
        _graded(course_, student, "Epoch 5/5 - 80s\n", seed=seed)
        return GradingRun(student, True, 1.0)

    def read_scores(course_, student, db_url):
        return {"conv_test_accuracy": score if student in regraded else 10.0}

    def entries_check(folder, keys, timeout):
        checked.append(keys)
        return {k: entries for k in keys}

    runs = [GradingRun(name, True, 1.0) for name in names]
    result = audit.audit_batch(
        course, runs, fraction=0.01, seed=0,
        regrade=regrade, read_scores=read_scores, entries_check=entries_check,
    )  # fmt: skip
    assert sorted(result.hits) == ["a", "b", "c"]
    assert len(result.audited) == 1
    audited = next(iter(result.audited))
    config = audit.cache_config(course)
    # The entries are retrained on their own only when the trained weights differ.
    assert checked == ([] if entries is None else [["0123456789ab"]])
    if outcome == "disabled":
        assert "weights differ" in result.disabled and "entry 0123456789ab" in result.disabled
        assert sorted(regraded) == ["a", "b", "c"]  # the audited one, then every other hit
        assert (course / tc.DEFAULT_DIRNAME / tc.DISABLED).exists()
        assert config.folder(course) is None  # no kernel sees the cache any more
        assert "DIFFERENT" in result.line() and not result.flagged
    else:
        assert not result.disabled and result.regraded == [] and regraded == [audited]
        assert config.folder(course) == (course / tc.DEFAULT_DIRNAME).resolve()
        if outcome == "identical":
            assert result.identical and not result.flagged and "identical" in result.line()
        else:
            assert result.flagged == {audited: result.audited[audited]}
            assert "cache kept" in result.line() and audited in result.line()
    assert tc.SWITCH_ENV not in os.environ
    assert audit.read(course).audited == result.audited
