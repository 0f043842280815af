"""The lesson as a student meets it: no answer shown before it is asked, given data that
come from the committed benchmark, and an optional section the grader never runs."""

import json
import os
import re
import statistics
import subprocess
import sys

import nbformat
import pytest

from course.layout import COURSE_ROOT
from graders import SUPPORT_FILES, public_checks, reference
from tests.support.course import RELEASE, SOURCE

checks = public_checks()

# Where each answer about the lab's model is asked, and how its expected values would look if
# a cell before it gave them away. (Part 4, 6b and the receptive field are about each
# student's own model: see the tests of show_variant below.)
ANSWERS = {
    "pooling_tradeoff_answer": ["5.6 times", "5.56", "x5.6", "20.9", "21 times", "x21"],
}


def _release():
    return nbformat.read(RELEASE, as_version=4)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


@pytest.mark.parametrize("answer_cell", ANSWERS)
def test_no_answer_appears_before_the_cell_that_asks_for_it(answer_cell):
    before = []
    for cell in _release().cells:
        before.append(cell.source)
        if _grade_id(cell) == answer_cell:
            break
    else:
        pytest.fail(f"{answer_cell} is not in the release")
    text = "\n".join(before)
    for leak in ANSWERS[answer_cell]:
        assert leak not in text, f"{leak!r} appears before {answer_cell} asks for it"


def test_the_released_checks_modules_hold_no_answer():
    text = "".join((RELEASE.parent / name).read_text() for name in SUPPORT_FILES)
    for leaks in ANSWERS.values():
        for leak in leaks:
            assert leak not in text, leak


def test_the_leak_list_holds_the_graders_expected_values():
    """The strings above are the real answers (so the test cannot pass by listing others)."""
    macs = reference.macs_per_image("no_pooling") / reference.macs_per_image("lab")
    params = reference.expected_total("no_pooling") / reference.expected_total("lab")
    assert f"{macs:.1f} times" in ANSWERS["pooling_tradeoff_answer"]
    assert f"{params:.1f}" in ANSWERS["pooling_tradeoff_answer"]


def test_only_the_student_sees_their_own_model_and_no_cell_works_it_out():
    """Part 4's model is shown as sizes only (show_variant); no provided cell builds,
    summarises or counts it; the released module has the sizes, never a shape or a count."""
    release = _release()
    uses = [_grade_id(c) for c in release.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")
            and ("STUDENT_ID" in c.source or "variant_for" in c.source)]  # fmt: skip
    # the others print or check option letters (show_choices, check_letter), no model
    assert uses == ["show_your_model", "show_choices_6f", "conclusion", "show_choices_6g",
                    "concept_questions"]  # fmt: skip
    import contextlib
    import io

    for i in range(50):
        spec = reference.student_spec(f"s{i}")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            checks.show_variant(f"s{i}")
        shown = out.getvalue()
        for _, shape, params in reference.expected_layers(spec):
            assert str(shape) not in shown
            assert params < 100 or f"{params:,}" not in shown  # (10 classes, 0 for pooling)
        assert f"{reference.expected_total(spec):,}" not in shown


def test_the_given_table_is_the_committed_benchmarks_result():
    """SEED_TABLE (printed in Part 6e, read by the pooling_tradeoff and conclusion graders) is
    the mean and sd over the seeds of benchmarks/results/pooling_seeds.json, which
    benchmarks/pooling_seeds.py wrote; parameters and multiply-adds are the reference's."""
    runs = json.loads((COURSE_ROOT / "benchmarks/results/pooling_seeds.json").read_text())["rows"]
    assert list(checks.SEED_TABLE) == ["dense", "dense2", "dense_wide", "conv", "no_pooling"]
    for model, row in checks.SEED_TABLE.items():
        mine = [r for r in runs if r["model"] == model]
        assert len(mine) == checks.SEED_TABLE_SEEDS >= 5, model
        for key, field in (("train_acc", "train_acc"), ("test_acc", "test_acc")):
            values = [r[field] for r in mine]
            assert row[key] == round(statistics.mean(values), 4), (model, key)
            sd_key = key.replace("_acc", "_sd")
            assert row[sd_key] == round(statistics.stdev(values), 4), (model, sd_key)
        at2 = [(r["shift_test_acc"][r["shift_px"].index(2)]
                + r["shift_test_acc"][r["shift_px"].index(-2)]) / 2 for r in mine]  # fmt: skip
        assert row["shift2_acc"] == round(statistics.mean(at2), 4), model
        name = "lab" if model == "conv" else model
        assert row["params"] == mine[0]["params"] == reference.expected_total(name), model
        assert row["macs"] == mine[0]["macs_per_image"] == reference.macs_per_image(name), model


def test_the_optional_exploration_never_trains_while_grading_or_validating(monkeypatch):
    cell = next(c for c in _release().cells if _grade_id(c) == "exploration")
    assert not cell.metadata["nbgrader"].get("grade")
    source = cell.source.replace("RUN_EXPLORATION = False", "RUN_EXPLORATION = True")
    assert source != cell.source
    for mode in ("autograde", "validate"):
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
        namespace = {"tf": None, "EPOCHS": 5}  # any use of TensorFlow would raise
        exec(compile(source, "exploration", "exec"), namespace)
    monkeypatch.delenv("NBGRADER_EXECUTION")
    with pytest.raises(AttributeError):  # and it does train in the student's own session
        exec(compile(source, "exploration", "exec"), {"tf": None, "EPOCHS": 5})
    assert os.environ.get("NBGRADER_EXECUTION") is None


def test_the_exploration_draws_training_curves_with_a_validation_split(monkeypatch):
    """Run for real, as in a student's session, on 300 images for one epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import tensorflow as tf

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    cell = next(c for c in _release().cells if _grade_id(c) == "exploration")
    source = cell.source.replace("RUN_EXPLORATION = False", "RUN_EXPLORATION = True")
    images = np.random.default_rng(0).random((300, 28, 28, 1), dtype=np.float32)
    labels = np.arange(300) % 10
    namespace = dict(tf=tf, plt=plt, EPOCHS=1, BATCH_SIZE=64, training_images=images,
                     training_labels=labels, test_images=images[:50], test_labels=labels[:50],
                     accuracy_history=checks.accuracy_history)  # fmt: skip
    monkeypatch.setattr(plt, "show", lambda: None)
    exec(compile(source, "exploration", "exec"), namespace)
    history = namespace["explore_history"].history
    assert (
        len(history["val_accuracy"]) == 1
        and len(checks.accuracy_history(namespace["explore_history"])) == 1
    )
    lines = plt.gca().get_lines()
    assert [line.get_label() for line in lines] == [
        "train (the first 90%)",
        "validation (the last 10%)",
    ]
    plt.close("all")


@pytest.mark.parametrize(
    "metric",
    ["accuracy", "acc", "sparse_categorical_accuracy", "SparseCategoricalAccuracy()"],
)
def test_the_training_cells_read_accuracy_whatever_the_metric_is_called(metric):
    """Keras names the history after the metric: the provided cells must not assume
    "accuracy" (a correct model compiled with SparseCategoricalAccuracy() lost Part 6)."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    spelled = keras.metrics.SparseCategoricalAccuracy() if metric.endswith("()") else metric
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=[spelled])
    rng = np.random.default_rng(0)
    history = model.fit(
        rng.random((8, 4)), rng.integers(0, 3, 8), epochs=2, batch_size=4, verbose=0
    )
    accuracies = checks.accuracy_history(history)
    assert len(accuracies) == 2 and all(0.0 <= a <= 1.0 for a in accuracies)
    with pytest.raises(checks.CheckFailed, match="holds no accuracy"):
        checks.accuracy_history(type("H", (), {"history": {"loss": [1.0]}})())


@pytest.mark.parametrize(
    "spelling", ["functional_api", "separate_activation_layers", "built_with_add"]
)
def test_part_6_looks_inside_every_correct_spelling_the_same_way(spelling):
    """The provided cells index layers of sequential_copy(conv_model): for a functional model
    (its Input is a layer) or separate ReLU layers, indexing the original would probe the
    wrong stages (a correct student once lost shift_reading points to that)."""
    import numpy as np
    import tensorflow as tf

    from tests.support.spellings import MODELS

    model = MODELS[spelling]("relu", "softmax")
    plain = checks.sequential_copy(MODELS["sequential_tf_keras"]("relu", "softmax"))
    plain.set_weights([np.random.default_rng(i).normal(size=w.shape).astype("float32")
                       for i, w in enumerate(plain.get_weights())])  # fmt: skip
    model.set_weights(plain.get_weights())
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    copy = checks.sequential_copy(model)
    assert [type(layer).__name__ for layer in copy.layers[:4]] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D"
    ]  # fmt: skip
    stages = tf.keras.Model(copy.inputs, [layer.output for layer in copy.layers[:4]])
    want = tf.keras.Model(plain.inputs, [layer.output for layer in plain.layers[:4]])
    got_stages = stages.predict(images, verbose=0)  # as the notebook's stage_outputs does
    for got, expected in zip(got_stages, want.predict(images, verbose=0), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(copy.predict(images, verbose=0), model.predict(images, verbose=0),
                               atol=1e-5)  # fmt: skip


def test_the_faster_scaling_gives_the_labs_bits_for_every_pixel_value():
    """load_data converts to float32 before dividing (20x faster, no float64 copy of the
    training set): bit for bit what the lab's (images / 255.0).astype("float32") gives."""
    import numpy as np

    pixels = np.arange(256, dtype=np.uint8)
    lab = (pixels / 255.0).astype("float32")
    ours = pixels.astype("float32") / 255.0
    assert ours.dtype == lab.dtype and np.array_equal(ours.view(np.uint32), lab.view(np.uint32))
    cell = next(c for c in _release().cells if _grade_id(c) == "load_data")
    assert 'training_images.astype("float32") / 255.0' in cell.source


@pytest.mark.parametrize("variable", sorted(checks.CHOICES))
def test_the_right_option_is_not_the_one_that_stands_out(variable):
    """Options of similar length and detail: the right one is never the longest alone, and
    no option is more than 1.6 times as long as another."""
    from graders.reference import RIGHT_OPTION

    lengths = [len(option) for option in checks.CHOICES[variable]]
    assert len(lengths) == 4
    assert max(lengths) <= 1.6 * min(lengths), lengths
    longest = [k for k, n in enumerate(lengths) if n == max(lengths)]
    assert longest != [RIGHT_OPTION[variable]], lengths


def test_every_lettered_question_is_asked_printed_and_checked_with_the_students_letters():
    """Each question of CHOICES: its markdown names it, a provided cell prints its options
    (show_choices) before the answer cell, and its check cell calls check_letter."""
    cells = [(_grade_id(c), c.source) for c in _release().cells]
    for variable in checks.CHOICES:
        asked = [i for i, (_, s) in enumerate(cells) if f"`{variable}`" in s]
        shown = [
            i for i, (_, s) in enumerate(cells) if "show_choices(" in s and f'"{variable}"' in s
        ]
        answered = [i for i, (_, s) in enumerate(cells) if s.lstrip("# ").startswith("Define")
                    and re.search(rf"^{variable} = \.\.\.$", s, re.M)]  # fmt: skip
        checked = [i for i, (_, s) in enumerate(cells)
                   if f'check_letter({variable}, STUDENT_ID, "{variable}")' in s]  # fmt: skip
        assert asked and shown and answered and checked, variable
        assert asked[0] < shown[0] < answered[0] < checked[0], variable


def _choice_checks():
    """(variable, options) of every check_choice call in the source notebook's check cells."""
    import ast

    nb = nbformat.read(SOURCE, as_version=4)
    table = public_checks().SEED_TABLE
    for cell in nb.cells:
        if cell.cell_type != "code" or "check_choice(" not in cell.source:
            continue
        visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
        names = {"SEED_TABLE": table, "models": tuple(table)}
        names["class_names"] = list(public_checks().CLASS_NAMES)
        for node in ast.walk(ast.parse(visible)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check_choice":
                variable = node.args[0].id
                yield variable, eval(compile(ast.Expression(node.args[1]), "", "eval"), names)


def _listed_options(variable: str) -> set[str]:
    """The quoted options of the numbered question that names `variable` (those of its
    whole cell when the item lists none: "which model ...?" after a list of models), or of
    the answer cell's comment that names it."""
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and f"`{variable}`" in cell.source:
            for item in re.split(r"\n(?=\d+\. )", cell.source):
                if f"`{variable}`" in item:
                    quoted = r'`"([\w-]+)"`'
                    return set(re.findall(quoted, item) or re.findall(quoted, cell.source))
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                if line.lstrip().startswith(f"#   {variable}:"):
                    return set(re.findall(r'"([\w-]+)"', line))
    return set()


@pytest.mark.parametrize("variable, options", list(_choice_checks()))
def test_every_choice_check_allows_exactly_the_options_its_question_lists(variable, options):
    """A check narrower than its question fails a right answer; a wider one lets a typo in."""
    if variable == "biggest_gain_class":  # "its name exactly as printed": any of the classes
        assert set(options) == {n.lower() for n in public_checks().CLASS_NAMES}
        return
    assert set(options) == _listed_options(variable), variable


# A Course 1 notebook a student reads in about 8 minutes (about 200 words a minute).
MAX_RELEASED_MARKDOWN_WORDS = 1600


def test_the_released_markdown_is_short_enough():
    """The words a student reads: whitespace-separated tokens of the released notebook's
    markdown cells (the mark scheme is stripped by nbgrader and not counted)."""
    words = sum(len(c.source.split()) for c in _release().cells if c.cell_type == "markdown")
    assert words <= MAX_RELEASED_MARKDOWN_WORDS, f"{words} words of markdown"


NO_GRADERS = """
import sys
sys.modules["graders"] = None  # a student's machine: no graders package
import c1w3_checks
print(c1w3_checks.core.__file__)
"""


def test_the_student_facing_checks_are_short_and_use_the_released_core(tmp_path):
    """c1w3_checks.py holds what the notebook calls (issue 30: at most 300 lines); the core it
    shares with the graders is released beside it, byte for byte graders/c1w3_core.py, and is
    what the checks use where no graders package exists; without it the message says so."""
    checks = RELEASE.parent / "c1w3_checks.py"
    assert len(checks.read_text().splitlines()) <= 300
    core = (COURSE_ROOT / "graders" / "c1w3_core.py").read_bytes()
    assert (RELEASE.parent / "c1w3_core.py").read_bytes() == core
    (tmp_path / "c1w3_checks.py").write_bytes(checks.read_bytes())
    (tmp_path / "c1w3_core.py").write_bytes(core)

    def run():
        return subprocess.run(
            [sys.executable, "-c", NO_GRADERS], cwd=tmp_path, capture_output=True, text=True
        )

    done = run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "c1w3_core.py")
    (tmp_path / "c1w3_core.py").unlink()
    done = run()
    assert "c1w3_core.py is missing" in done.stderr and "Fetch" in done.stderr
