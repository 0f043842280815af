"""The collusion class: honest students who write the lab's standard code independently, and
planted pairs that share more than independent work does. ``PLANTED`` names each pair and
what it shares; the similarity report must rank every planted pair above every honest pair
(tests/test_similarity.py).

Every submission is made from the *release* notebook with the source's solutions filled in
(as scenarios/sample_class.py does), then rewritten the way that student writes: the model of
``build_conv_model`` from one of many spellings (Sequential list, ``.add``, functional, a
loop, a helper; ``tf.keras.layers.``, an alias, ``keras.layers.``; positional or keyword
arguments; their own names and comments), their own ``stage_outputs`` and
``relative_change``, answer literals written their way, a few common mistakes, their own
written answer, and their own ``STUDENT_ID``. Nothing is executed.

The planted pairs:
    verbatim copy           vince hands in vera's notebook unchanged (her id, her outputs)
    renamed and reformatted rick takes rosa's code, renames every variable and reformats it
    same unusual answers    wanda and walt write their own code but agree on odd wrong answers
    paraphrased answer      paul rewords pia's written answer (Part 7)

``synthetic_class(n)`` draws more honest students from the same spellings (and random words
for their written answers) around the planted pairs: the cost benchmark's 300 students.
"""

from __future__ import annotations

import ast
import copy
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course import similarity
from course.layout import COURSE_ROOT, Layout
from graders import ASSIGNMENT, public_checks, reference, registry
from scenarios.notebook_edits import solved_release

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
BUILD_CELL = "build_conv_model_answer"
STAGE_CELL = "stage_outputs_answer"
CHANGE_CELL = "relative_change_answer"
FUNCTION_CELLS = (BUILD_CELL, STAGE_CELL, CHANGE_CELL)

# ------------------------------------------------------------------ ways to write the model

NAMESPACES = {  # (a line before the model, how a layer is named)
    "tf": ("", "tf.keras.layers."),
    "alias": ("layers = tf.keras.layers\n", "layers."),
    "L": ("from tensorflow.keras import layers as L\n", "L."),
    "keras": ("from tensorflow import keras\n", "keras.layers."),
}
CONVS = (
    'Conv2D(32, (3, 3), activation="relu"{extra})',
    "Conv2D(filters=32, kernel_size=(3, 3), activation='relu'{extra})",
    "Conv2D(32, 3, activation=tf.nn.relu{extra})",
    'Conv2D(32, kernel_size=3, padding="valid", activation="relu"{extra})',
)
POOLS = (
    "MaxPooling2D(2, 2)",
    "MaxPool2D((2, 2))",
    "MaxPooling2D(pool_size=(2, 2))",
    "MaxPool2D()",
)
DENSES = (
    'Dense(128, activation="relu")',
    "Dense(units=128, activation=tf.nn.relu)",
    "Dense(128, activation='relu', name='hidden')",
)
OUTS = (
    'Dense(10, activation="softmax")',
    "Dense(10, activation=tf.nn.softmax)",
    "Dense(units=10, activation='softmax', name='probs')",
)
COMPILES = (
    '{m}.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])',
    '{m}.compile(\n        optimizer="adam",\n        loss="sparse_categorical_crossentropy",\n'
    '        metrics=["accuracy"],\n    )',
    "{m}.compile(optimizer=tf.keras.optimizers.Adam(),\n"
    "              loss=tf.keras.losses.SparseCategoricalCrossentropy(),\n"
    "              metrics=['accuracy'])",
    "{m}.compile(loss='sparse_categorical_crossentropy', optimizer='adam', metrics=['acc'])",
)
INPUTS = ("tf.keras.Input(shape=(28, 28, 1))", "tf.keras.layers.Input((28, 28, 1))")
FORMS = ("list", "add", "functional", "loop", "block")
MODEL_NAMES = ("model", "net", "cnn", "clf", "my_model", "classifier")
COMMENTS = (
    ("", "", ""),
    ("# two conv/pool blocks, then the classifier\n", "  # 28 -> 26", "  # halves"),
    ("# feature extractor first\n", "", "  # downsample"),
    ("", "  # 32 filters 3x3", ""),
)


@dataclass(frozen=True)
class Style:
    """How one student writes: an index into each of the spellings above."""

    form: str = "list"
    ns: str = "tf"
    conv: int = 0
    pool: int = 0
    dense: int = 0
    out: int = 0
    compile: int = 0
    name: int = 0
    input: int = 0  # which Input layer
    input_kwarg: bool = False  # input_shape= on the first conv instead of an Input layer
    comments: int = 0
    stage: int = 0  # which stage_outputs
    change: int = 0  # which relative_change
    underscores: bool = False  # 113_386 rather than 113386


def model_body(style: Style) -> str:
    """The body of build_conv_model() as this student writes it (4-space indented)."""
    setup, p = NAMESPACES[style.ns]
    m = MODEL_NAMES[style.name]
    header, c_note, p_note = COMMENTS[style.comments]
    kwarg = style.input_kwarg and style.form in ("list", "add")
    conv1 = p + CONVS[style.conv].format(extra=", input_shape=(28, 28, 1)" if kwarg else "")
    conv2 = p + CONVS[style.conv].format(extra="")
    pool = p + POOLS[style.pool]
    dense, out = p + DENSES[style.dense], p + OUTS[style.out]
    flatten = f"{p}Flatten()"
    inp = "keras.Input(shape=(28, 28, 1))" if style.ns == "keras" else INPUTS[style.input]
    lines = [setup.rstrip("\n")] if setup else []
    if header:
        lines.append(header.rstrip("\n"))
    if style.form == "list":
        lines.append(f"{m} = tf.keras.models.Sequential([")
        if not kwarg:
            lines.append(f"    {inp},")
        lines += [f"    {conv1},{c_note}", f"    {pool},{p_note}", f"    {conv2},", f"    {pool},"]
        lines += [f"    {flatten},", f"    {dense},", f"    {out},", "])"]
    elif style.form == "add":
        lines.append(f"{m} = tf.keras.Sequential()")
        if not kwarg:
            lines.append(f"{m}.add({inp})")
        layers = ((conv1, c_note), (pool, p_note), (conv2, ""), (pool, ""), (flatten, ""))
        lines += [f"{m}.add({layer}){note}" for layer, note in layers]
        lines += [f"{m}.add({dense})", f"{m}.add({out})"]
    elif style.form == "functional":
        lines += [f"inputs = {inp}", f"x = {conv1}(inputs){c_note}", f"x = {pool}(x){p_note}"]
        lines += [f"x = {conv2}(x)", f"x = {pool}(x)", f"x = {flatten}(x)", f"x = {dense}(x)"]
        lines += [f"outputs = {out}(x)", f"{m} = tf.keras.Model(inputs=inputs, outputs=outputs)"]
    elif style.form == "loop":
        lines.append(f"{m} = tf.keras.Sequential([{inp}])")
        lines += ["for _ in range(2):", f"    {m}.add({conv2}){c_note}", f"    {m}.add({pool})"]
        lines += [f"{m}.add({flatten})", f"{m}.add({dense})", f"{m}.add({out})"]
    else:  # a helper for the repeated block
        lines += ["def conv_block(n_filters):", f"    return [{p}Conv2D(n_filters, (3, 3), "]
        lines[-1] += f'activation="relu"), {pool}]{p_note}'
        lines += [f"{m} = tf.keras.Sequential(", f"    [{inp}] + conv_block(32) + conv_block(32)"]
        lines += [f"    + [{flatten}, {dense}, {out}]", ")"]
    lines += COMPILES[style.compile].format(m=m).splitlines()
    lines.append(f"return {m}")
    return "\n".join("    " + line if line else line for line in lines) + "\n"


STAGE_OUTPUTS = (
    """    layer_outputs = [layer.output for layer in model.layers[:4]]
    activation_model = tf.keras.models.Model(inputs=model.inputs, outputs=layer_outputs)
    return activation_model.predict(images, verbose=0)
""",
    """    outs = [model.layers[i].output for i in range(4)]
    probe = tf.keras.Model(model.inputs, outs)
    return probe.predict(images, verbose=0)
""",
    """    # run the images through the first four layers one at a time
    results = []
    x = images
    for layer in model.layers[:4]:
        x = layer(x)
        results.append(np.asarray(x))
    return results
""",
    """    extractor = tf.keras.Model(inputs=model.input,
                               outputs=[l.output for l in model.layers[0:4]])
    return [np.array(a) for a in extractor(images)]
""",
)

RELATIVE_CHANGES = (
    """    n = len(before)
    before = np.asarray(before).reshape(n, -1)
    after = np.asarray(after).reshape(n, -1)
    return float(np.mean(np.linalg.norm(after - before, axis=1) / np.linalg.norm(before, axis=1)))
""",
    """    ratios = []
    for b, a in zip(before, after):
        b, a = np.ravel(b), np.ravel(a)
        ratios.append(np.linalg.norm(a - b) / np.linalg.norm(b))
    return float(np.mean(ratios))
""",
    """    base = np.asarray(before, dtype=float).reshape(len(before), -1)
    diff = np.asarray(after, dtype=float).reshape(len(after), -1) - base
    return float(np.mean(np.sqrt((diff ** 2).sum(axis=1)) / np.sqrt((base ** 2).sum(axis=1))))
""",
    """    def flat(t):
        return np.reshape(t, (np.shape(t)[0], -1))
    change = np.linalg.norm(flat(after) - flat(before), axis=-1)
    size = np.linalg.norm(flat(before), axis=-1)
    return (change / size).mean().item()
""",
)

# ------------------------------------------------------------------ written answers (Part 7)

WRITTEN = {
    "amara": "The learner is wrong about where the gain comes from. Each conv filter is slid over "
    "the whole picture, so one set of nine weights finds an edge anywhere, and the model needs "
    "far fewer weights per feature than a dense layer. My run: 0.889 against 0.862.",
    "bruno": "Convolution reuses its kernels at every position; that weight sharing is why it "
    "learns local shapes like collars and sleeves cheaply. Pooling mainly shrinks the maps: "
    "the no-pooling version scored slightly higher on test but took much longer to fit.",
    "chen": "I would answer the forum post like this. Your claim that pooling is what helps is "
    "not supported: removing pooling made test accuracy go up a little. What helps is the "
    "convolutional filters picking up small patterns, which a flat dense net has to relearn "
    "for every location.",
    "dalia": "Spatial structure. A dense network flattens the 28 by 28 image and forgets which "
    "pixels were neighbours, a conv layer keeps them together. Coats and shirts differ in small "
    "local details, and that is exactly where my conv model beat the dense one.",
    "emeka": "Weight sharing plus locality: 320 parameters in conv1 versus millions for a dense "
    "layer doing the same mapping. MaxPooling is a cost saver, not an accuracy booster, since "
    "dropping it did not hurt accuracy in the seed table.",
    "farah": "Gain: about 2.7 points. The shift experiment is not the explanation because the "
    "test images are centred just like the training images. The filters detect textures and "
    "outlines, and those features transfer between garments better than raw pixel weights.",
    "goran": "Pooling throws away three quarters of each window, so it can hardly add "
    "information. The improvement comes from the convolution stage: small shared kernels act as "
    "detectors for strokes and corners, and stacking two of them widens what each unit sees.",
    "hana": "It is the convolutions. Evidence: the model without pooling is at least as accurate, "
    "so pooling is not required for the gain; it mostly reduces parameters and time. Most of "
    "the improvement was on upper-body garments where texture matters.",
    "vera": "Short version: shared filters. A kernel that detects a vertical seam is useful "
    "everywhere in the image, so learning it once is efficient and generalises. Pooling made "
    "training faster for me (fit time ratio near 4) while test accuracy barely moved.",
    "rosa": "Dense layers treat pixel 300 and pixel 301 as unrelated inputs; convolutions know "
    "they are adjacent. That inductive bias is what buys the extra accuracy on Fashion-MNIST, "
    "especially for pullovers. Without pooling the net still works, only slower and bigger.",
    "rick": "I think the premise mixes two things up. Downsampling by max pooling reduces "
    "the size of the feature maps, but accuracy came from the learned filters themselves; the "
    "variant without pooling tested even higher in our seed table, it just trained longer.",
    "wanda": "Because the conv layers look at neighbourhoods of pixels, they can combine edges "
    "into parts of clothing. A fully connected layer sees one long vector. The difference in "
    "my notebook was largest for the coat class.",
    "walt": "Conv nets exploit translation equivariance and locality. In this lab the benefit "
    "was a couple of percentage points. I do not believe pooling deserves the credit the "
    "forum post gives it, given the no pooling numbers.",
    "pia": "The gain does not come from pooling. When we removed both pooling layers the test "
    "accuracy actually rose by about one and a half points, at the price of twenty times more "
    "parameters and a much slower fit. The real reason is that convolutional filters share "
    "their weights across the image, so a detector for a collar or a sleeve edge is learned "
    "once and applied everywhere, which a dense layer cannot do.",
}
# paul rewords pia's answer: some phrases kept, sentences reordered, words swapped
PARAPHRASE = (
    "The real reason is that convolutional filters share their weights across the whole image: "
    "a detector for a collar or a sleeve edge gets learned once and is applied everywhere, "
    "which is something a dense layer cannot do. So the gain does not come from pooling at all. "
    "If we removed both pooling layers the test accuracy actually went up by about one and a "
    "half points, at the price of twenty times more parameters and a far slower fit."
)

# ------------------------------------------------------------------ the class


@dataclass
class Student:
    name: str
    style: Style
    written: str
    student_id: str | None = None  # None: their own name
    answers: dict[str, str] = field(default_factory=dict)  # name -> expression, as written
    outputs_seed: int | None = None  # a training log with its own timings
    copy_of: str | None = None  # verbatim: hand in this student's notebook
    renamed_copy_of: str | None = None  # this student's code, renamed and reformatted


# Most students write the lab's spelling (Style()'s defaults): the instructor's solution and
# what more than a fifth of a class writes count for nothing. Each student below departs from
# it in their own few places; no two share more than a line.
HONEST_STYLES = {
    "amara": Style(conv=1, comments=1, compile=1, name=1),
    "bruno": Style(form="add", name=2, underscores=True),
    "chen": Style(form="functional", stage=1, comments=2),
    "dalia": Style(ns="keras", pool=1, name=3, underscores=True),
    "emeka": Style(input_kwarg=True, dense=1, comments=3, name=4),
    "farah": Style(ns="alias", compile=2, change=2, underscores=True),
    "goran": Style(pool=2, out=1, name=5),
    "hana": Style(conv=2, compile=3, out=2, comments=1, underscores=True),
}
HONEST = list(HONEST_STYLES)
PLANTED = {
    ("vera", "vince"): "verbatim copy",
    ("rick", "rosa"): "renamed and reformatted copy",
    ("walt", "wanda"): "same unusual wrong answers",
    ("paul", "pia"): "paraphrased written answer",
}

# Answers a student may write as a number: the odd wrong values wanda and walt agree on.
NUMBER_ANSWERS = (
    "receptive_field",
    "predicted_total",
    "no_pooling_total",
    "dense_equivalent_params",
    "params_ratio",
    "fit_time_ratio",
    "accuracy_gain_points",
)
ODD_NUMBERS = ("13", "113_401", "2_369_999", "17.5")


def _students(release_nb) -> list[Student]:
    """The class of the tests: 8 honest students and the 4 planted pairs (16 notebooks)."""
    wrong = wrong_choices(release_nb)
    odd = [n for n in NUMBER_ANSWERS if _assigned(release_nb, n)][: len(ODD_NUMBERS)]
    shared_odd = dict(zip(odd, ODD_NUMBERS, strict=False))
    # the lettered questions: wanda writes walt's letters of wrong options (each student has
    # letters of their own: c1w3_checks.choices_for)
    for name in getattr(public_checks(), "CHOICES", {}):
        if f"{name} = ..." in "".join(c.source for c in release_nb.cells):
            shared_odd[name] = repr(reference.wrong_letters("walt", name)[0])
    common = {}  # a common mistake: the first wrong option of one item, by 4 honest students
    if wrong:
        name, options = next(iter(wrong.items()))
        common = {name: repr(options[0])}
    out = []
    for i, (name, style) in enumerate(HONEST_STYLES.items()):
        out.append(
            Student(
                name,
                style,
                WRITTEN[name],
                answers=dict(common) if i % 2 == 0 else {},
                outputs_seed=i if i % 3 == 0 else None,
            )
        )
    out += [
        Student("vera", Style(form="block", ns="L", stage=3, change=3, comments=2, name=1),
                WRITTEN["vera"], outputs_seed=101),
        Student("vince", Style(), "", copy_of="vera"),
        Student("rosa", Style(form="loop", conv=3, pool=3, stage=2, change=1, comments=1),
                WRITTEN["rosa"]),
        Student("rick", Style(), WRITTEN["rick"], renamed_copy_of="rosa"),
        Student("wanda", Style(dense=2, comments=3, name=2), WRITTEN["wanda"],
                answers=dict(shared_odd)),
        Student("walt", Style(pool=1, out=2, name=4, underscores=True), WRITTEN["walt"],
                answers=dict(shared_odd)),
        Student("pia", Style(conv=3, out=1, comments=2, name=3), WRITTEN["pia"]),
        Student("paul", Style(input_kwarg=True, conv=2, name=5, underscores=True), PARAPHRASE),
    ]  # fmt: skip
    return out


# ------------------------------------------------------------------ editing a notebook


def _solution_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def _find(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    return None


def _assigned(nb, name) -> bool:
    for cell in _solution_cells(nb):
        try:
            if name in similarity.assignments(cell.source):
                return True
        except SyntaxError:
            continue
    return False


def set_answer(nb, name: str, expression: str, cells=None) -> bool:
    """Write ``name = expression`` in place of the last top-level assignment of `name` in a
    solution cell (or one of `cells`); False if none assigns it."""
    for cell in reversed(_solution_cells(nb) if cells is None else cells):
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        stmts = [
            s
            for s in tree.body
            if isinstance(s, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in s.targets)
            and len(s.targets) == 1
        ]
        if stmts:
            lines = cell.source.splitlines()
            last = stmts[-1]
            comment = re.search(r"\s+#.*$", lines[last.end_lineno - 1])
            keep = comment.group() if comment and last.end_lineno == last.lineno else ""
            lines[last.lineno - 1 : last.end_lineno] = [f"{name} = {expression}{keep}"]
            cell.source = "\n".join(lines)
            return True
    return False


def set_student_id(nb, student_id: str) -> None:
    """STUDENT_ID where the notebook asks for it; a release without it gets a first cell."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if not set_answer(nb, registry.STUDENT_ID, repr(student_id), code_cells):
        nb.cells.insert(0, nbformat.v4.new_code_cell(f"STUDENT_ID = {student_id!r}"))


def wrong_choices(nb) -> dict[str, list[str]]:
    """Multiple-choice answer -> its wrong options (the release's check_choice calls against
    the solution filled into `nb`)."""
    template = similarity.Template.from_notebook(nb)
    out = {}
    for name, options in template.choices.items():
        answer = None
        for cell in _solution_cells(nb):
            try:
                node = similarity.assignments(cell.source).get(name)
            except SyntaxError:
                continue
            if node is not None:
                answer = similarity.answer_of(node)
        if answer is not None and answer.is_text:
            right = str(json.loads(answer.key))
            wrong = [o for o in options if o != right]
            if wrong:
                out[name] = wrong
    return out


def _function(release_cell_source: str, body: str) -> str:
    """The released function's def line and docstring, then the student's body."""
    kept = [
        line
        for line in release_cell_source.splitlines()
        if "YOUR CODE HERE" not in line and "raise NotImplementedError" not in line
    ]
    return "\n".join(kept) + "\n" + body


def _number_style(nb, underscores: bool) -> None:
    """Integer literals in the answer cells written with or without underscores."""
    for cell in _solution_cells(nb):
        gid = cell.metadata["nbgrader"].get("grade_id")
        if gid in FUNCTION_CELLS:
            continue
        if underscores:
            cell.source = re.sub(
                r"(?<![\w.])(\d{4,})(?![\w.])", lambda m: f"{int(m.group(1)):_}", cell.source
            )
        else:
            cell.source = re.sub(r"(?<=\d)_(?=\d{3})", "", cell.source)


def training_log(seed: int) -> str:
    rng = random.Random(seed)
    lines = []
    for epoch in range(1, 6):
        acc = 0.80 + 0.018 * epoch + rng.random() * 0.004
        lines.append(
            f"Epoch {epoch}/5\n469/469 - {rng.randint(9, 15)}s - {rng.randint(19, 31)}ms/step - "
            f"accuracy: {acc:.4f} - loss: {1.1 - acc:.4f}"
        )
    return "\n".join(lines) + "\n"


def _add_outputs(nb, seed: int) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code" and "fit" in cell.source:
            log = training_log(seed)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=log)]
            cell.execution_count = 1
            return


RENAMES = {
    "model": "clf",
    "net": "clf",
    "cnn": "clf",
    "my_model": "clf",
    "classifier": "clf",
    "x": "h",
    "inputs": "inp",
    "outputs": "out",
    "ratios": "vals",
    "results": "acts",
    "layer": "lyr",
    "base": "ref",
    "diff": "delta",
    "n_filters": "k",
    "before": "b0",
    "after": "b1",
    "images": "imgs",
    "b": "p",
    "a": "q",
}


def renamed_and_reformatted(source: str) -> str:
    """The same tokens under other names and another layout: every name the cell binds is
    renamed, quotes swapped, spacing changed, comments replaced."""
    bound = similarity.lexing.bound_names(source) or set()
    out, previous = [], ""
    for m in similarity.lexing.TOKEN.finditer(source):
        kind, text = m.lastgroup, m.group()
        if kind == "name" and text in bound and previous != "." and text in RENAMES:
            text = RENAMES[text]
        elif kind == "string" and not text.startswith(('"""', "'''")):
            if text.startswith('"') and "'" not in text:
                text = "'" + text[1:-1] + "'"
            elif text.startswith("'") and '"' not in text:
                text = '"' + text[1:-1] + '"'
        elif kind == "comment":
            text = "# (mine)"
        elif kind == "op" and text == ",":
            text = " ,"
        elif kind == "op" and text == "=" and previous not in ("(", ","):
            text = " = "
        out.append(text)
        if kind not in ("ws", "comment"):
            previous = m.group()
    text = "".join(out)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return text.replace("\n    return", "\n\n    return")


def build_notebook(student: Student, base, release, written: dict[str, str] | None = None):
    """`student`'s notebook from `base` (the release with the solutions filled in)."""
    nb = copy.deepcopy(base)
    style = student.style
    cell = _find(nb, BUILD_CELL)
    if cell is not None:
        cell.source = _function(_find(release, BUILD_CELL).source, model_body(style))
    cell = _find(nb, STAGE_CELL)
    if cell is not None:
        cell.source = _function(_find(release, STAGE_CELL).source, STAGE_OUTPUTS[style.stage])
    cell = _find(nb, CHANGE_CELL)
    if cell is not None:
        cell.source = _function(_find(release, CHANGE_CELL).source, RELATIVE_CHANGES[style.change])
    _number_style(nb, style.underscores)
    for name, expression in student.answers.items():
        set_answer(nb, name, expression)
    set_student_id(nb, student.student_id or student.name)
    for c in nb.cells:
        if c.get("id") == similarity.WRITTEN_ANSWER_ID:
            c.source = student.written
    if student.outputs_seed is not None:
        _add_outputs(nb, student.outputs_seed)
    return nb


def class_notebooks(course_root: Path = COURSE_ROOT) -> dict[str, nbformat.NotebookNode]:
    """name -> the notebook each student of the collusion class hands in."""
    base, release = solved_release(course_root)
    students = _students(base)
    made = {}
    for s in students:
        if s.copy_of is None and s.renamed_copy_of is None:
            made[s.name] = build_notebook(s, base, release)
    for s in students:
        if s.copy_of is not None:
            made[s.name] = copy.deepcopy(made[s.copy_of])
        elif s.renamed_copy_of is not None:
            nb = copy.deepcopy(made[s.renamed_copy_of])
            for cell in _solution_cells(nb):
                if cell.metadata["nbgrader"].get("grade_id") in FUNCTION_CELLS:
                    cell.source = renamed_and_reformatted(cell.source)
            set_student_id(nb, s.name)
            for c in nb.cells:
                if c.get("id") == similarity.WRITTEN_ANSWER_ID:
                    c.source = s.written
            made[s.name] = nb
    return made


def write_notebooks(course_root: Path, notebooks: dict) -> list[str]:
    for name, nb in notebooks.items():
        folder = Layout(course_root).folder("submitted", name)
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / NOTEBOOK)
    return list(notebooks)


def write_class(course_root: Path, release_root: Path = COURSE_ROOT) -> list[str]:
    """Write submitted/<name>/<assignment>/ for the collusion class; returns the names."""
    return write_notebooks(course_root, class_notebooks(release_root))


# ------------------------------------------------------------------ a large class

_WORDS = (
    "conv pooling filter filters kernel weights shared dense layer layers pixel pixels image "
    "images edge edges texture shape shapes local global accuracy test train training fit "
    "parameters model models gain point points seed seeds collar sleeve coat shirt pullover "
    "feature features map maps window stride neighbour neighbours position positions learn "
    "learns learned detect detects detector pattern patterns small large more fewer less "
    "because so since while but and the a of in on to for with without by than as is are was "
    "were it they this that these those each every one two three four half quarter twice"
).split()


def random_style(rng: random.Random) -> Style:
    """An honest student's spelling, drawn at random; never the forms and helpers that the
    planted originals (vera, rosa) wrote as their own, so theirs stay unusual in any class."""
    return Style(
        form=rng.choice(("list", "add", "functional")),
        ns=rng.choice(list(NAMESPACES)),
        conv=rng.randrange(len(CONVS)),
        pool=rng.randrange(len(POOLS)),
        dense=rng.randrange(len(DENSES)),
        out=rng.randrange(len(OUTS)),
        compile=rng.randrange(len(COMPILES)),
        name=rng.randrange(len(MODEL_NAMES)),
        input=rng.randrange(len(INPUTS)),
        input_kwarg=rng.random() < 0.3,
        comments=rng.randrange(len(COMMENTS)),
        stage=rng.choice((0, 1)),
        change=rng.choice((0, 2)),
        underscores=rng.random() < 0.5,
    )


def synthetic_class(n: int, course_root: Path = COURSE_ROOT, seed: int = 0) -> dict:
    """name -> notebook: the collusion class plus honest students with random spellings (and
    written answers of random words), n notebooks in all."""
    made = class_notebooks(course_root)
    base, release = solved_release(course_root)
    rng = random.Random(seed)
    wrong = wrong_choices(base)
    i = 0
    while len(made) < n:
        i += 1
        answers = {}
        for name, options in wrong.items():  # about one student in five slips on each item
            if rng.random() < 0.2:
                answers[name] = repr(rng.choice(options))
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(40, 90)))
        student = Student(
            f"student{i:03d}",
            random_style(rng),
            text.capitalize() + ".",
            answers=answers,
            outputs_seed=1000 + i if rng.random() < 0.3 else None,
        )
        made[student.name] = build_notebook(student, base, release)
    return made
