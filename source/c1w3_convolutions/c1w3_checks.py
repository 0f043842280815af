"""Checks for the C1W3 convolutions assignment: what the notebook's cells call.

Each check says what is wrong and the first difference it found. How a model is described
and compared with the lab's lives in c1w3_core.py beside this file (`core.` below): the
graders judge with the same file. Nothing here holds an answer; the prediction checks look
only at the *form* of an answer.

What the notebook imports:
- setup and given data: import_tensorflow, CLASS_NAMES, SEED_TABLE, CheckFailed (core)
- checks: check_conv_model, check_conv_compile, check_before_training,
  check_training_finished (core), check_layer_predictions, check_counts, check_numbers,
  check_choice, check_letter
- training: fit_lab_model, accuracy_history
- your own model: signed_in_id, show_variant, show_choices, variant_for and choices_for (core)
- experiments and figures: sequential_copy (core), require_trained_model, show_figure,
  record_readings
"""

from __future__ import annotations

import os
import sys

try:  # a grading machine: the graders' own copy of the core, never a submission's
    import graders.c1w3_core as core
except ImportError:  # anywhere else: the copy released beside this file
    try:
        import c1w3_core as core
    except ModuleNotFoundError as missing:
        if missing.name != "c1w3_core":
            raise
        raise ModuleNotFoundError(
            "c1w3_core.py is missing: it is released with this notebook and must be in the "
            "same folder as c1w3_checks.py (on JupyterHub, Fetch the assignment again)",
            name="c1w3_core",
        ) from None

# The core's names are this module's too: the notebook imports some from here (above).
globals().update({k: v for k, v in vars(core).items() if not k.startswith("__")})


def import_tensorflow():
    """Import TensorFlow without its start-up banner.

    On some CPUs TensorFlow's C++ core writes "oneDNN custom operations are on ..." and an
    absl notice straight to file descriptor 2 while it loads, whatever TF_CPP_MIN_LOG_LEVEL
    says and before Python could redirect anything: a red block under the first cell of
    every notebook. Only the import itself runs with descriptor 2 pointed at /dev/null;
    later messages (and an import error, which is a Python exception) show as usual.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow


def check_before_training(model) -> None:
    """Part 5: the lab's model trains silently; a near miss trains with a note saying what it
    costs; anything else stops with the reason and the first difference."""
    refusal = core.training_refusal(model)
    if refusal:
        raise core.CheckFailed(
            f"Not training: {refusal}. Fix build_conv_model() in Part 3, then run this cell again."
        )
    problems = core.architecture_problems(model)
    if problems:
        print(
            f"Note: this is not the lab's model ({problems[0]}). It trains as you wrote it: "
            "Part 3's architecture check fails, and Parts 5-6 are judged on this run's own "
            "numbers. Fix Part 3 and run again for the lab's model."
        )


def check_conv_model(build_fn) -> None:
    """Visible check: the layers of build_conv_model() (the compile settings have their own)."""
    model = core.build_quietly(build_fn)
    problems = core.architecture_problems(model)
    if problems:
        raise core.CheckFailed("Failed test case: " + problems[0])
    print("The layers match the lab's model.")


def check_conv_compile(build_fn) -> None:
    """Visible check: the compile settings of build_conv_model()."""
    model = core.build_quietly(build_fn)
    subclassed = core.subclass_problem(model)
    problems = [subclassed] if subclassed else core.compile_problems(model)
    if problems:
        raise core.CheckFailed("Failed test case: " + problems[0])
    print("Compiled with adam, sparse_categorical_crossentropy and accuracy.")


def accuracy_history(history) -> list[float]:
    """Training accuracy per epoch from a fit() history, whatever the student named the metric
    ("accuracy", "acc", SparseCategoricalAccuracy() ...: Keras names the history after it)."""
    logs = getattr(history, "history", {}) or {}
    for key in ("accuracy", "acc", "sparse_categorical_accuracy"):
        if key in logs:
            return list(logs[key])
    for key in logs:
        if "acc" in key and not key.startswith("val_"):
            return list(logs[key])
    raise core.CheckFailed(f"the training history holds no accuracy (it holds {sorted(logs)})")


def require_trained_model(namespace, what: str) -> None:
    """A provided cell of Part 6 that looks inside the trained conv model: refuse, and say why,
    when Part 5 did not train it (a model that is not the lab's is built but never trained)."""
    if "conv_test_acc" not in namespace:
        raise core.CheckFailed(
            f"{what} needs the conv model trained in Part 5, and Part 5 did not finish: fix what "
            "its message says (build_conv_model() in Part 3), then run the cells again"
        )


def record_readings(**values) -> None:
    """Keep what a provided cell measured (see core.READINGS_MIME); prints nothing."""
    from IPython.display import display

    data = {name: core.reading_value(value) for name, value in values.items()}
    display({"text/plain": "", core.READINGS_MIME: data}, raw=True)


def show_figure(fig, alt: str) -> None:
    """Show a matplotlib figure with a text alternative: what a screen reader says for it, and
    what the feedback page's image says when hovered. JupyterLab ignores an image output's
    "alt" metadata, so the figure goes out as an HTML <img alt=...> (and the text alone)."""
    import base64
    import html
    import io

    import matplotlib.pyplot as plt
    from IPython.display import display

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)  # else the inline backend shows it a second time, without the text
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    tag = f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
    display({"text/html": tag, "text/plain": f"[figure] {alt}"}, raw=True)


def _layer_text(spec: dict) -> str:
    if spec["kind"] == "Conv2D":
        k = spec["kernel"]
        return f"Conv2D: {spec['filters']} filters of {k[0]}x{k[1]}, {spec['activation']}"
    if spec["kind"] == "MaxPooling2D":
        p = spec["pool"]
        return f"MaxPooling2D: {p[0]}x{p[1]} windows (stride {p[0]})"
    if spec["kind"] == "Dense":
        return f"Dense: {spec['units']} units, {spec['activation']}"
    return spec["kind"]


def signed_in_id(student_id):
    """STUDENT_ID as written, or, left as `...`, the JupyterHub user name you are signed in
    under (the id nbgrader's exchange collects your work under); elsewhere, a message."""
    if isinstance(student_id, str) and student_id.strip():
        return student_id
    # While autograding, the grader knows whose notebook it is: never the grading user's name.
    grading = os.environ.get("NBGRADER_EXECUTION") == "autograde"
    graded = os.environ.get(core.GRADED_STUDENT_ENV) if grading else None
    if graded:
        print(f"STUDENT_ID is not written: graded as {graded!r}, the student this notebook was "
              "collected from.")  # fmt: skip
        return graded
    hub_user = None if grading else os.environ.get("JUPYTERHUB_USER")
    if hub_user:
        print(f"STUDENT_ID is not written: using {hub_user!r}, the JupyterHub user you are "
              "signed in as (write it in the cell above to keep it).")  # fmt: skip
        return hub_user
    raise core.CheckFailed(
        "STUDENT_ID is not set: write your nbgrader student id in the cell above, e.g. "
        'STUDENT_ID = "ab123", and run it'
    )


def show_variant(student_id) -> None:
    """Print student `student_id`'s model as a layer table (kinds and sizes, no shapes)."""
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if (
        hub_user
        and isinstance(student_id, str)
        and core.canonical_id(student_id) != core.canonical_id(hub_user)
    ):
        print(f"Note: you are signed in to JupyterHub as {hub_user!r}; nbgrader grades you under "
              f"that id, not {student_id!r}. Write STUDENT_ID = {hub_user!r}.\n")  # fmt: skip
    variant = core.variant_for(student_id)
    h, w, c = variant["input_shape"]
    channels = "grey" if c == 1 else "colour (3 channels)"
    code, canonical = core.model_code(student_id), core.canonical_id(student_id)
    print(f"Your model, code {code} (student id {canonical!r}), on {h}x{w}x{c} {channels} "
          "images:")  # fmt: skip
    for index, spec in enumerate(variant["layers"], start=1):
        print(f"  {index}. {_layer_text(spec)}")


def show_choices(student_id, *names: str) -> None:
    """Print the options of each question in `names` under student `student_id`'s letters."""
    for name in names:
        print(f"{name}:")
        for letter, option in core.choices_for(student_id, name).items():
            print(f'  "{letter}" {option}')


def check_layer_predictions(predictions, total, n_layers: int = 7, name: str = "predictions"):
    """Visible check: the answer has the right form. It says nothing about the values."""
    core.read_layer_predictions(predictions, n_layers, name)
    core.normalize_count(total, f"the total parameter count for {name}")
    print(f"{name}: format OK ({n_layers} layers and a total). The values are graded later.")


def check_counts(values, n: int, name: str) -> None:
    """Visible check for a list of n whole numbers (a list, a tuple or a numpy array)."""
    values = core.as_list(values)
    if not isinstance(values, (list, tuple)) or len(values) != n:
        raise core.AnswerFormatError(
            f"{name} should be a list of {n} whole numbers, got {values!r}"
        )
    for index, value in enumerate(values, start=1):
        core.normalize_count(value, f"{name}, entry {index}")
    print(f"{name}: format OK. The values are graded later.")


def check_choice(answer, options, name: str) -> None:
    """Visible check for a multiple-choice answer: one of the option letters (or words)."""
    if not isinstance(answer, str) or answer.strip().lower() not in options:
        raise core.AnswerFormatError(
            f"{name}: answer with one of {', '.join(repr(o) for o in options)}, got {answer!r}"
        )
    print(f"{name}: format OK. The answer is graded after you submit.")


def check_letter(answer, student_id, name: str) -> None:
    """Visible check for question `name`: one of the letters show_choices printed for you."""
    check_choice(answer, tuple(core.choices_for(student_id, name)), name)


def check_numbers(values, name: str) -> None:
    """Visible check for a dict of numbers: all there, all numbers. Values are graded later."""
    for key, value in values.items():
        core.read_number(value, key)
    print(f"{name}: format OK. The values are graded later.")


# ------------------------------------------------------------------- training
# (The provided training cells call this; see "Training cache" in the course README.)

# Set only on the course's grading machines, never on yours.
TRAINING_CACHE_ENV = "NBGRADER_C1W3_TRAINING_CACHE"


def fit_lab_model(model, images, labels, *, epochs, batch_size, steps_per_execution):
    """Train `model` as the provided cells do: ``model.fit(images, labels, epochs=epochs,
    batch_size=batch_size, verbose=2)``, `steps_per_execution` batches per call.

    On your computer that is all it does. On the grading machines, where many students train
    exactly the same model from exactly the same start, the grader may load the stored result
    of that identical training instead of computing it again (bit for bit the same weights,
    optimizer state and history; anything that differs in the slightest trains for real).
    """
    model.steps_per_execution = steps_per_execution
    if os.environ.get(TRAINING_CACHE_ENV):
        try:
            from graders import training_cache
        except ImportError:
            training_cache = None
        if training_cache is not None:
            return training_cache.fit(
                model,
                images,
                labels,
                epochs=epochs,
                batch_size=batch_size,
                steps_per_execution=steps_per_execution,
            )
    return model.fit(images, labels, epochs=epochs, batch_size=batch_size, verbose=2)
