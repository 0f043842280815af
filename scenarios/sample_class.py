"""The sample class: fake submissions named by the result they should get, and that result.

Each submission is made from the *release* notebook, the way a student would make it:
answers typed into the answer cells (taken from the instructor's solutions, then edited
per scenario), cells inserted, edited or deleted. ``EXPECTED`` is the one table of
expected automatic points per grade id; the end-to-end test and ``make demo`` use both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import nbformat

from course.layout import COURSE_ROOT, Layout
from graders import ASSIGNMENT, SUPPORT_FILES
from scenarios.notebook_edits import (
    FULL,
    answer,
    as_student,
    expect,
    find_cell,
    insert_before,
    replace,
    solved_release,
)

NOTEBOOK = f"{ASSIGNMENT}.ipynb"

SAMPLE_EXPLANATION = (
    "Half right: pooling does throw detail away, but nothing is lost before it. conv1 turns 784 "
    "pixels into 21,632 values computed from them; pooling keeps the largest of each window, and "
    "the same model without pooling tests about 1.7 points higher, so the gain comes despite "
    "pooling. With 320 shared weights conv1 does what a dense layer would need 16,981,120 for. "
    "Conv reached 0.887 and dense 0.861, gaining most on coats, which dense took for pullovers. "
    "Depth and compute are not it either: dense2 and dense_wide stay below conv. pool2 changed "
    "less than conv2 under a 1-pixel shift, but the test set is centred and conv's advantage at "
    "0 px is small, so whole-image shifts do not explain the gain: convolution does."
)


# ----------------------------------------------------------------- scenarios
# Each edits a notebook that already holds every correct answer (passes_all).


def untouched_release(nb, release):
    return copy.deepcopy(release)


def dense_only(nb, release):
    answer(
        nb,
        "build_conv_model_answer",
        """def build_conv_model():
    model = tf.keras.models.Sequential([
        tf.keras.Input(shape=(28, 28, 1)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
""",
    )
    return nb


def no_pooling(nb, release):
    cell = find_cell(nb, "build_conv_model_answer")
    cell.source = "\n".join(line for line in cell.source.splitlines() if "MaxPooling2D" not in line)
    return nb


def filters_64(nb, release):
    """The current public lab's variant: 64 filters in both convolutions."""
    cell = find_cell(nb, "build_conv_model_answer")
    cell.source = cell.source.replace("Conv2D(32,", "Conv2D(64,")
    return nb


def padding_same(nb, release):
    """A near miss: padding="same" in both convolutions (1.6x the lab's multiply-adds). Part 5
    trains it as written; only the architecture item is lost, the rest reads its own run."""
    cell = find_cell(nb, "build_conv_model_answer")
    assert cell.source.count('activation="relu")') >= 2, cell.source
    cell.source = cell.source.replace(
        'Conv2D(32, (3, 3), activation="relu")',
        'Conv2D(32, (3, 3), activation="relu", padding="same")',
    )
    assert cell.source.count('padding="same"') == 2, cell.source
    return nb


def course_input_shape_idiom(nb, release):
    """Correct model written as the course writes it: input_shape= on the first layer."""
    answer(
        nb,
        "build_conv_model_answer",
        """def build_conv_model():
    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv2D(32, (3,3), activation='relu', input_shape=(28, 28, 1)),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Conv2D(32, (3,3), activation=tf.nn.relu),
        tf.keras.layers.MaxPool2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    return model
""",
    )
    return nb


def week2_spellings_renamed_upload(nb, release):
    """Correct model in the C1_W2 lab's spellings: functional API, tf.nn activations, optimizer,
    loss and metric objects. Uploaded as the browser renames a re-download (UPLOAD_NAMES)."""
    answer(
        nb,
        "build_conv_model_answer",
        """def build_conv_model():
    inputs = tf.keras.Input(shape=(28, 28, 1))
    x = tf.keras.layers.Conv2D(32, (3, 3), activation=tf.nn.relu)(inputs)
    x = tf.keras.layers.MaxPooling2D(2, 2)(x)
    x = tf.keras.layers.Conv2D(32, (3, 3), activation=tf.nn.relu)(x)
    x = tf.keras.layers.MaxPooling2D(2, 2)(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(128, activation=tf.nn.relu)(x)
    outputs = tf.keras.layers.Dense(10, activation=tf.nn.softmax)(x)
    model = tf.keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])
    return model
""",
    )
    return nb


def activation_layers_built_with_add(nb, release):
    """Correct model built layer by layer with .add() and separate activation layers."""
    answer(
        nb,
        "build_conv_model_answer",
        """def build_conv_model():
    layers = tf.keras.layers
    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(28, 28, 1)))
    model.add(layers.Conv2D(filters=32, kernel_size=3))
    model.add(layers.ReLU())
    model.add(layers.MaxPool2D())
    model.add(layers.Conv2D(filters=32, kernel_size=(3, 3)))
    model.add(layers.Activation(tf.keras.activations.relu))
    model.add(layers.MaxPool2D(pool_size=(2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(units=128))
    model.add(layers.Activation("relu"))
    model.add(layers.Dense(units=10))
    model.add(layers.Softmax())
    model.compile(optimizer="Adam", loss=tf.keras.losses.sparse_categorical_crossentropy,
                  metrics=["acc"])
    return model
""",
    )
    return nb


def wrong_shape_predictions(nb, release):
    """An off-by-one in the convolution rule (h - k instead of h - k + 1), in Part 4 and in
    the no-pooling model: each conv shape is wrong, what follows from them is carried forward."""
    replace(nb, "predictions_answer", "(h - k + 1, w - k + 1,", "(h - k, w - k,")
    return nb


def wrong_param_predictions(nb, release):
    """Forgets the biases of every convolution (in Part 4 and in the no-pooling model)."""
    replace(nb, "predictions_answer", "(k * k * c + 1) * layer", "k * k * c * layer")
    return nb


def wrong_predictions(nb, release):
    """Both slips in one notebook (one training run instead of two)."""
    return wrong_param_predictions(wrong_shape_predictions(nb, release), release)


def build_raises(nb, release):
    """A typo (Conv2d) makes build_conv_model() raise AttributeError."""
    cell = find_cell(nb, "build_conv_model_answer")
    cell.source = cell.source.replace("layers.Conv2D(", "layers.Conv2d(", 1)
    return nb


def edited_hidden_tests(nb, release):
    """A dense model, and every test cell's body replaced with `pass`."""
    nb = dense_only(nb, release)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            if cell.cell_type == "code":
                cell.source = "pass"
    return nb


def deleted_test_cells(nb, release):
    """Wrong shapes, and the tests that would notice (and the accuracy test) deleted."""
    nb = wrong_shape_predictions(nb, release)
    for grade_id in ("predict_output_shapes", "conv_test_accuracy"):
        nb.cells.remove(find_cell(nb, grade_id))
    return nb


def infinite_loop(nb, release):
    """`while True: pass` in the concept answers, and the build typo of build_raises (so
    this notebook trains nothing): the loop costs its own cell and the cells that need it."""
    answer(nb, "concept_answers", "while True:\n    pass\n")
    return build_raises(nb, release)


def monkeypatched_evaluate(nb, release):
    """Wrecks the trained weights, then makes evaluate() report perfect accuracy."""
    insert_before(
        nb,
        "conv_test_accuracy",
        """conv_model.set_weights([np.zeros_like(w) for w in conv_model.get_weights()])
tf.keras.Model.evaluate = lambda self, *args, **kwargs: [0.0, 1.0]
conv_test_acc = conv_model.evaluate(test_images, test_labels)[1]
""",
    )  # noqa: E501
    return nb


def redefines_readings(nb, release):
    """A classmate's (made-up) readings typed over the notebook's own before the answers, and
    the answers computed from them: the grader reads what the provided cells recorded
    (c1w3_checks.record_readings), so the shift readings and the accuracy gain are wrong."""
    insert_before(
        nb,
        "shift_reading_answer",
        """shift_results = {
    "conv2": {1: 0.1, -1: 0.1, 2: 0.2, -2: 0.2}, "pool2": {1: 0.5, -1: 0.5, 2: 0.6, -2: 0.6},
    "conv accuracy": {0: 0.9, 2: 0.5, -2: 0.5}, "dense accuracy": {0: 0.8, 2: 0.75, -2: 0.75},
}
conv_test_acc = 0.99
""",
    )
    return nb


def overwritten_test_data(nb, release):
    """Replaces the test set with images the model has trained on, labelled by its own guesses."""
    insert_before(
        nb,
        "conv_test_accuracy",
        """test_images = training_images[:10000]
test_labels = np.argmax(conv_model.predict(test_images, verbose=0), axis=1)
conv_test_acc = conv_model.evaluate(test_images, test_labels, verbose=0)[1]
""",
    )
    return nb


def copies_passes_all(nb, release):
    """passes_all's notebook handed in under a second id: Part 4 is judged on this student's
    own model (and its STUDENT_ID flags the copy for the TA)."""
    return as_student(nb, "passes_all")


def reads_another_machine(nb, release):
    """Readings typed from the student's own laptop run, which differs from the grader's
    within the measured spread (docs/machine_spread.md: 1 thread, AVX2: conv 0.8908, dense
    0.8616, a 2.92-point gain; Coat gains most): full marks."""
    answer(
        nb,
        "conv_vs_dense_answer",
        'accuracy_gain_points = 2.9\nmore_parameters = "conv"\nbiggest_gain_class = "Coat"\n',
    )
    answer(
        nb,
        "shift_reading_answer",
        'steadier_stage = "pool2"\nrobust_model = "conv"\nadvantage_at_0px = "smaller"\n',
    )
    return nb


def passes_all(nb, release):
    return nb


KERAS_ORACLE = """from c1w3_checks import variant_for

mine = variant_for(STUDENT_ID)


def keras_model(layers):  # my model, built in Keras from the sizes show_variant printed
    model = tf.keras.Sequential([tf.keras.Input(shape=mine["input_shape"])])
    for layer in layers:
        if layer["kind"] == "Conv2D":
            model.add(tf.keras.layers.Conv2D(layer["filters"], layer["kernel"], activation="relu"))
        elif layer["kind"] == "MaxPooling2D":
            model.add(tf.keras.layers.MaxPooling2D(layer["pool"]))
        elif layer["kind"] == "Flatten":
            model.add(tf.keras.layers.Flatten())
        else:
            model.add(tf.keras.layers.Dense(layer["units"], activation=layer["activation"]))
    return model


oracle = keras_model(mine["layers"])
predicted_layers = [(layer.output.shape, layer.count_params()) for layer in oracle.layers]
predicted_total = oracle.count_params()
values_per_image = [int(np.prod(mine["input_shape"]))] + [
    int(np.prod(layer.output.shape[1:])) for layer in oracle.layers[:4]
]
fewer_values_than_pixels = "yes" if values_per_image[-1] < values_per_image[0] else "no"
"""
KERAS_ORACLE_NO_POOLING = """
oracle = keras_model([d for d in mine["layers"] if d["kind"] != "MaxPooling2D"])
no_pooling_layers = [(layer.output.shape, layer.count_params()) for layer in oracle.layers]
no_pooling_total = oracle.count_params()
"""


def keras_oracle(nb, release):
    """Builds its own model in Keras from the sizes show_variant printed and copies what Keras
    reports into Part 4 (shapes, counts, values per image, the model without pooling); what
    summary() does not print it leaves unanswered: 12 of Part 4's 28 points, by design."""
    answer(nb, "predictions_answer", KERAS_ORACLE)
    answer(nb, "no_pooling_answer", KERAS_ORACLE_NO_POOLING)
    unanswered = ("pool_rows_dropped", "input_rows_used", "unseen_pixels", "multiplications")
    answer(nb, "beyond_summary_answer", "".join(f"{name} = ...\n" for name in unanswered))
    return nb


def id_in_capitals(nb, release):
    """STUDENT_ID typed in capitals with a stray space: the same student (ids are compared
    as the model is picked: NFKC, stripped, case-folded): full marks, no flag."""
    return as_student(nb, " ID_IN_CAPITALS")


def id_left_unset(nb, release):
    """STUDENT_ID left as `...`, as the notebook allows on JupyterHub (the hub user is the id):
    while autograding, the grading tells the kernel the id it grades under, so every answer
    computed from STUDENT_ID is this student's own: full marks, no note."""
    answer(nb, "student_id_answer", "STUDENT_ID = ...")
    return nb


def id_is_full_name(nb, release):
    """STUDENT_ID = the student's full name, which is no enrolled student's id: Part 4 is
    judged on the model that name showed them (the one they predicted): full marks, a
    neutral note for the TA, no copy flag."""
    return as_student(nb, "Ida Fullname")


def relative_change_in_float32(nb, release):
    """relative_change in TensorFlow ops, float32 (TensorFlow's default): the hand-worked
    0.7 comes out 3e-9 off, within the visible check's float32 tolerance: full marks."""
    answer(
        nb,
        "relative_change_answer",
        """def relative_change(before, after):
    before = tf.reshape(tf.cast(before, tf.float32), (len(before), -1))
    after = tf.reshape(tf.cast(after, tf.float32), (len(after), -1))
    return tf.reduce_mean(tf.norm(after - before, axis=1) / tf.norm(before, axis=1))
""",
    )
    return nb


def broken_notebook_file(nb, release):
    """An upload cut off half-way: not valid JSON. It cannot be graded; it must not stop
    the batch, and the student must still appear in grades.csv (with 0) and be flagged."""
    return nbformat.writes(nb)[:5000]


# A model Part 5 does not train (no convolution, or over twice the lab's cost: c1w3_checks.
# training_refusal): there is no conv accuracy to grade and nothing for conv_vs_dense or
# shift_reading to read (no answer without a measurement).
WRONG_MODEL = expect(
    conv_model_architecture=0, conv_test_accuracy=0, conv_vs_dense=0, shift_reading=0
)

# name -> (scenario, expected automatic points per grade id, or None: cannot be graded).
# One table, used everywhere.
SAMPLE_CLASS: dict[str, tuple[Callable, dict[str, float] | None]] = {
    "passes_all": (passes_all, expect()),
    "id_in_capitals": (id_in_capitals, expect()),
    "id_is_full_name": (id_is_full_name, expect()),
    "id_left_unset": (id_left_unset, expect()),
    # Keras answers what summary() prints, nothing else: only predict_beyond_summary is lost
    "keras_oracle": (keras_oracle, expect(predict_beyond_summary=0)),
    "relative_change_in_float32": (relative_change_in_float32, expect()),
    "untouched_release": (untouched_release, {grade_id: 0.0 for grade_id in FULL}),
    "dense_only": (dense_only, WRONG_MODEL),
    "no_pooling": (no_pooling, WRONG_MODEL),
    "filters_64": (filters_64, WRONG_MODEL),
    # a near miss trains: one slip costs one item, the readings follow its own run
    "padding_same": (padding_same, expect(conv_model_architecture=0)),
    "course_input_shape_idiom": (course_input_shape_idiom, expect()),
    "week2_spellings_renamed_upload": (week2_spellings_renamed_upload, expect()),
    "activation_layers_built_with_add": (activation_layers_built_with_add, expect()),
    # off-by-one convolutions and forgotten biases: each conv item wrong, the rest carried
    # forward (its model: 32x32x1, Conv2D 8 and 64 of 3x3, 3x3 pooling, Dense 96)
    "wrong_predictions": (
        wrong_predictions,
        expect(
            predict_output_shapes=2.0, predict_param_counts=1.8, predict_no_pooling_variant=1.67
        ),
    ),
    "build_raises": (
        build_raises,
        dict(WRONG_MODEL, conv_model_compiled=0),
    ),
    "edited_hidden_tests": (edited_hidden_tests, WRONG_MODEL),
    "deleted_test_cells": (
        deleted_test_cells,
        expect(predict_output_shapes=2.0, predict_no_pooling_variant=2.33),
    ),
    "infinite_loop": (
        infinite_loop,
        dict(WRONG_MODEL, conv_model_compiled=0, concept_questions=0),
    ),
    # its zeroed model's conv2 and pool2 are all zeros: the probe's relative changes are NaN,
    # nothing to read for steadier_stage (its other readings follow its own numbers); its
    # gain, computed from the patched accuracy (1.0), is judged against the recorded one
    "monkeypatched_evaluate": (
        monkeypatched_evaluate,
        expect(conv_test_accuracy=0, shift_reading=4.0, conv_vs_dense=4.0),
    ),
    # made-up readings change only the answers built on them (all three shift readings, the gain)
    "redefines_readings": (redefines_readings, expect(shift_reading=0, conv_vs_dense=4.0)),
    # the grader's accuracy is the reference's; its gain, from the made-up 1.0, is judged
    # against the accuracy Part 5 recorded
    "overwritten_test_data": (overwritten_test_data, expect(conv_vs_dense=4.0)),
    "broken_notebook_file": (broken_notebook_file, None),
    "reads_another_machine": (reads_another_machine, expect()),
    # Part 4 judged on its own model (30x30x1, Conv2D 64 of 5x5 and 64 of 3x3, 2x2 pooling, Dense
    # 384) from answers for passes_all's (30x30x1, 16 and 64 of 5x5, 3x3 pooling, Dense 96), and
    # its lettered answers on its own letters (none of passes_all's right letters is its right
    # letter), 6e's two ratios on its own model (21.6 and 5.9, not passes_all's 90.1 and 22.8):
    # only what both models share scores; the TA summary flags the copy
    "copies_passes_all": (
        copies_passes_all,
        expect(
            predict_output_shapes=0.5,
            predict_param_counts=0,
            predict_values_per_image=2.0,
            predict_no_pooling_variant=0.33,
            predict_beyond_summary=4.0,
            weight_sharing=0,
            pooling_tradeoff=4.8,
            conclusion=0,
            concept_questions=0,
        ),
    ),
}


# The file name a student's upload arrived under, where it is not the assignment's notebook's.
UPLOAD_NAMES = {"week2_spellings_renamed_upload": f"{ASSIGNMENT} (1).ipynb"}


def build_submission(name: str, course_root: Path = COURSE_ROOT) -> nbformat.NotebookNode | str:
    """The notebook student `name` submits, made from release/ and the source's solutions."""
    nb, release = solved_release(course_root, name)
    for cell in nb.cells:
        if cell.get("id") == "explain_accuracy_gain_answer":
            cell.source = SAMPLE_EXPLANATION
    scenario, _ = SAMPLE_CLASS[name]
    return scenario(nb, release)


def write_class(course_root: Path, names=None, release_root: Path = COURSE_ROOT) -> list[str]:
    """Write submitted/<name>/<assignment>/ for each student; returns the names."""
    names = list(names or SAMPLE_CLASS)
    for name in names:
        folder = Layout(course_root).folder("submitted", name)
        folder.mkdir(parents=True, exist_ok=True)
        submission = build_submission(name, release_root)
        path = folder / UPLOAD_NAMES.get(name, NOTEBOOK)
        if isinstance(submission, str):  # a damaged file, written as it is
            path.write_text(submission)
        else:
            nbformat.write(submission, path)
        for support in SUPPORT_FILES:  # as a student's download of the release has them
            released = Layout(release_root).folder("release") / support
            (folder / support).write_bytes(released.read_bytes())
    return names
