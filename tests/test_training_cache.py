"""The training cache (graders/training_cache/, issue 14): a hit is bit for bit a real training.

Fast tests use a tiny model on 64 random images (one epoch); the slow one trains the
notebook's two models for real on Fashion-MNIST, twice each, in fresh processes, and compares
every weight and optimizer variable and the history with the cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course import audit
from course.context import GradingContext
from course.layout import COURSE_ROOT, Layout
from course.training_cache import DEFAULT_DIRNAME, TrainingCache, kernel_variables
from graders import CHECKS_ENV, public_checks
from graders import training_cache as tc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
FIT = {"epochs": 1, "batch_size": 16, "steps_per_execution": 2}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """A hit records itself in ./_grading, as in a graded notebook's folder: here, tmp."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.random((64, 8, 8, 1), dtype=np.float32)
    labels = rng.integers(0, 3, 64).astype(np.uint8)
    return images, labels


def tiny(
    *,
    relu="relu",
    softmax="softmax",
    functional=False,
    input_shape_idiom=False,
    filters=2,
    optimizer="adam",
):
    """A small conv model, seeded right before it is built (as the training cells do)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(42)
    if functional:
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(filters, 3, activation=relu)(inputs)
        x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Flatten()(x)
        model = keras.Model(inputs, keras.layers.Dense(3, activation=softmax)(x))
    elif input_shape_idiom:
        with public_checks().quiet():
            model = tf.keras.models.Sequential(
                [
                    tf.keras.layers.Conv2D(filters, (3, 3), activation=relu, input_shape=(8, 8, 1)),
                    tf.keras.layers.MaxPool2D(2, 2),
                    tf.keras.layers.Flatten(),
                    tf.keras.layers.Dense(3, activation=softmax),
                ]
            )
    else:
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(filters, 3, activation=relu),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dense(3, activation=softmax),
            ]
        )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def key(model, images, labels, **changes):
    return tc.compute_key(model, images, labels, **{**FIT, **changes})


def state(model) -> dict:
    """SHA-256 of every weight and optimizer variable (bytes, dtype, shape)."""
    return {
        "weights": [tc.array_digest(v.numpy()) for v in model.weights],
        "optimizer": [tc.array_digest(v.numpy()) for v in model.optimizer.variables],
    }


def tree(folder: Path) -> dict:
    """Every path under `folder` with its bytes' digest and mtime: any write shows."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
    }


def real(images, labels, **build):
    model = tiny(**build)
    history = tc.fit(model, images, labels, folder="", write=False, **FIT)
    return model, history


@pytest.fixture
def entry(tmp_path, data):
    """A cache folder with one entry, written by a real training of tiny()."""
    folder = tmp_path / "cache"
    model = tiny()
    history = tc.fit(model, *data, folder=folder, write=True, **FIT)
    assert not history.training_cache["hit"] and history.training_cache["stored"]
    return folder, history.training_cache["key"]


# -- the key ---------------------------------------------------------------------------------


def test_key_changes_with_every_ingredient(data, monkeypatch):
    import keras

    images, labels = data
    base = key(tiny(), images, labels)
    assert base == key(tiny(), images, labels)  # deterministic
    changed = {}
    changed["architecture"] = key(tiny(filters=3), images, labels)
    model = tiny()
    kernel = model.weights[0]
    value = kernel.numpy()
    value.flat[0] = np.nextafter(value.flat[0], np.float32(1))  # one weight, one ulp
    kernel.assign(value)
    changed["one weight"] = key(model, images, labels)
    changed["learning rate"] = key(tiny(optimizer=keras.optimizers.Adam(0.002)), images, labels)
    flipped = images.copy()
    flipped.view(np.uint8).flat[123] ^= 1
    changed["one data byte"] = key(tiny(), flipped, labels)
    changed["a label"] = key(tiny(), images, (labels + 1) % 3)
    changed["image dtype"] = key(tiny(), images.astype("float64"), labels)
    changed["epochs"] = key(tiny(), images, labels, epochs=2)
    changed["batch size"] = key(tiny(), images, labels, batch_size=32)
    changed["steps per call"] = key(tiny(), images, labels, steps_per_execution=1)
    model = tiny()
    random.random()  # something drew from Python's random between the build and the fit
    changed["random state"] = key(model, images, labels)
    with monkeypatch.context() as m:
        m.setenv("TF_NUM_INTRAOP_THREADS", "7")
        changed["threads"] = key(tiny(), images, labels)
    with monkeypatch.context() as m:
        m.setattr(tc.key, "cpu_flags", lambda: "sse2")  # where machine() looks it up
        changed["cpu features"] = key(tiny(), images, labels)
    with monkeypatch.context() as m:
        m.setattr(np, "__version__", "0.0.0")
        changed["numpy version"] = key(tiny(), images, labels)
    same = [what for what, k in changed.items() if k == base]
    assert not same, f"the key did not change with: {same}"
    assert len(set(changed.values())) == len(changed)


def test_key_ignores_spelling_and_those_spellings_train_alike(data):
    """Sequential/functional, Input/input_shape=, MaxPool2D/MaxPooling2D, 'relu'/tf.nn.relu:
    one key, and (checked here, not assumed) the very same trained bits."""
    import tensorflow as tf

    images, labels = data
    spellings = {
        "sequential": {},
        "functional": {"functional": True},
        "course idiom": {"input_shape_idiom": True, "relu": tf.nn.relu},
        "tf.nn.relu": {"relu": tf.nn.relu},
    }
    keys = {name: key(tiny(**build), images, labels) for name, build in spellings.items()}
    assert len(set(keys.values())) == 1, keys
    trained = {name: real(images, labels, **build) for name, build in spellings.items()}
    first = state(trained["sequential"][0])
    for name, (model, history) in trained.items():
        assert state(model) == first, name
        assert history.history == trained["sequential"][1].history, name


def test_different_computation_different_key(data):
    """tf.nn.softmax is not Keras's 'softmax' (which hands its logits to the loss): own key."""
    import tensorflow as tf

    images, labels = data
    assert key(tiny(softmax=tf.nn.softmax), images, labels) != key(tiny(), images, labels)


# Keras warns (rightly) when it serializes the lambda this test is about.
@pytest.mark.filterwarnings("ignore:The object being serialized includes a `lambda`")
def test_uncacheable_models_train_for_real(data, tmp_path):
    import keras

    images, labels = data
    odd = tiny(relu=lambda x: keras.ops.relu(x))
    with pytest.raises(tc.Uncacheable):
        key(odd, images, labels)
    history = tc.fit(odd, images, labels, folder=tmp_path, write=True, **FIT)
    assert not history.training_cache["hit"] and "Uncacheable" in history.training_cache["reason"]
    assert int(odd.optimizer.iterations.numpy()) == 4
    assert list(tmp_path.iterdir()) == []  # nothing stored without a key


# -- hits and misses ---------------------------------------------------------------------------


def test_hit_restores_weights_optimizer_and_history_exactly(entry, data, capsys):
    folder, stored_key = entry
    reference, reference_history = real(*data)  # trained for real, no cache
    capsys.readouterr()
    model = tiny()
    history = tc.fit(model, *data, folder=folder, write=False, **FIT)
    printed = capsys.readouterr().out
    assert history.training_cache == {"hit": True, "key": stored_key, "reason": ""}
    # the record the audit reads (course/audit.py): which entry served this training
    assert audit.hit_keys(Path("_grading")) == [stored_key[:12]]
    assert state(model) == state(reference)  # every weight and optimizer variable, bit for bit
    assert int(model.optimizer.iterations.numpy()) == 4
    assert history.history == reference_history.history
    assert history.params == reference_history.params and history.epoch == [0]
    stored = json.loads((folder / stored_key / "entry.json").read_text())
    assert printed.startswith("\n".join(stored["lines"]))
    assert "accuracy" in stored["lines"][-1] and "training cache" in printed
    # The model works on as after a real fit.
    np.testing.assert_array_equal(
        model.predict(data[0], verbose=0), reference.predict(data[0], verbose=0)
    )


def _damage(folder: Path, stored: str, how: str) -> None:
    where = folder / stored
    entry_file = where / "entry.json"
    entry = json.loads(entry_file.read_text())
    if how == "truncated arrays":
        blob = (where / "arrays.npz").read_bytes()
        (where / "arrays.npz").write_bytes(blob[: len(blob) // 2])
    elif how == "changed weights, old digest":
        (where / "arrays.npz").write_bytes(b"PK" + os.urandom(100))
    elif how == "no entry.json":
        entry_file.unlink()
    elif how == "entry.json not JSON":
        entry_file.write_text(entry_file.read_text()[:50])
    elif how == "short history":
        entry["history"] = {k: [] for k in entry["history"]}
        entry_file.write_text(json.dumps(entry))
    elif how == "wrong step count":
        entry["iterations"] = 3
        entry_file.write_text(json.dumps(entry))
    elif how == "only a temporary folder":
        shutil.move(where, folder / ".tmp-partial")
    elif how == "another entry's key":
        entry["key"] = "0" * 64
        entry_file.write_text(json.dumps(entry))
    else:
        raise ValueError(how)


@pytest.mark.parametrize(
    "how",
    [
        "truncated arrays",
        "changed weights, old digest",
        "no entry.json",
        "entry.json not JSON",
        "short history",
        "wrong step count",
        "only a temporary folder",
        "another entry's key",
    ],
)
def test_a_broken_entry_is_a_miss_never_a_crash(entry, data, how):
    folder, stored = entry
    _damage(folder, stored, how)
    reference, _ = real(*data)
    model = tiny()
    history = tc.fit(model, *data, folder=folder, write=False, **FIT)
    assert not history.training_cache["hit"]
    assert state(model) == state(reference)  # it trained for real


def test_the_reader_never_writes(entry, data, tmp_path):
    folder, _ = entry
    before = tree(folder)
    tc.fit(tiny(), *data, folder=folder, write=False, **FIT)  # a hit
    tc.fit(tiny(filters=3), *data, folder=folder, write=False, **FIT)  # a miss
    assert tree(folder) == before
    missing = tmp_path / "nowhere"
    tc.fit(tiny(), *data, folder=missing, write=False, **FIT)
    assert not missing.exists()


def test_fit_lab_model_is_plain_fit_without_the_cache(data, tmp_path, monkeypatch, entry):
    checks = public_checks()
    assert checks.TRAINING_CACHE_ENV == tc.CACHE_ENV
    folder, _ = entry
    monkeypatch.delenv(tc.CACHE_ENV, raising=False)
    monkeypatch.delenv(tc.WRITE_ENV, raising=False)
    model = tiny()
    history = checks.fit_lab_model(model, *data, **FIT)
    assert not hasattr(history, "training_cache") and model.steps_per_execution == 2
    monkeypatch.setenv(tc.CACHE_ENV, str(folder))
    cached = tiny()
    history = checks.fit_lab_model(cached, *data, **FIT)
    assert history.training_cache["hit"] and state(cached) == state(model)


# -- who may read and write --------------------------------------------------------------------


def test_configuration_and_what_a_kernel_is_told(tmp_path, monkeypatch):
    from traitlets.config import Config

    from course.nbgrader_plugins import grader_variables
    from graders import settings

    assert TrainingCache().folder(tmp_path) is None  # no folder yet
    (tmp_path / DEFAULT_DIRNAME).mkdir()
    assert TrainingCache().folder(tmp_path) == (tmp_path / DEFAULT_DIRNAME).resolve()
    config = Config()
    config.TrainingCache.enabled = False
    assert TrainingCache(config=config).folder(tmp_path) is None
    # nbgrader's command line (the audit's regrades: runner.nbgrader) switches it off too
    off = GradingContext.of(tmp_path).without_training_cache().nbgrader_options()
    assert off == ["--TrainingCache.enabled=False"]
    # What a sandboxed kernel and the verifier get: the folder, never the writer's switch,
    # whatever the grader's shell holds; a configured accuracy bar.
    monkeypatch.setenv(tc.WRITE_ENV, "1")
    monkeypatch.setenv(tc.CACHE_ENV, "/elsewhere")
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    config.GradingLimits.min_test_accuracy = 0.8
    env, readable = grader_variables(config)
    assert (
        env[tc.CACHE_ENV] == str((tmp_path / DEFAULT_DIRNAME).resolve()) and tc.WRITE_ENV not in env
    )
    checks = Layout(tmp_path).public_checks  # bound when the course has it (test_layout)
    assert env[CHECKS_ENV] == str(checks) and not checks.exists()
    assert readable == [(tmp_path / DEFAULT_DIRNAME).resolve()]
    assert env[settings.MIN_ACCURACY_ENV] == "0.8"
    config.TrainingCache.enabled = False
    env, readable = grader_variables(config)
    assert env[tc.CACHE_ENV] == "" and readable == []  # a forwarded old name is overridden


@pytest.mark.system
def test_a_sandboxed_kernel_can_read_but_never_write_the_cache(tmp_path, monkeypatch):
    """What SandboxedKernelManager.format_kernel_cmd builds: the folder bound read-only, its
    name forwarded, the writer switch not."""
    from course import sandbox

    if not shutil.which("bwrap"):
        pytest.fail("bubblewrap is needed: apt-get install bubblewrap")
    folder = tmp_path / "cache"
    (folder / "k").mkdir(parents=True)
    (folder / "k" / "entry.json").write_text("{}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv(tc.WRITE_ENV, "1")
    script = textwrap.dedent(
        f"""
        import os, sys
        print(os.environ.get({tc.CACHE_ENV!r}), os.environ.get({tc.WRITE_ENV!r}))
        print(open({str(folder / "k" / "entry.json")!r}).read())
        for path in ({str(folder / "new")!r}, {str(folder / "k" / "entry.json")!r}):
            try:
                open(path, "w").write("forged")
                print("WROTE", path)
            except OSError as exc:
                print("refused", type(exc).__name__)
        """
    )
    box = sandbox.Sandbox()
    box.create_cgroups()
    try:
        cmd = box.command(
            [sys.executable, "-I", "-c", script], work, extra_readable=[folder],
            env=kernel_variables(folder),
        )  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        box.close()
    lines = done.stdout.splitlines()
    assert lines[:2] == [f"{folder} None", "{}"], done.stdout + done.stderr
    assert lines[2:] == ["refused OSError"] * 2, done.stdout
    assert sorted(p.name for p in folder.rglob("*")) == ["entry.json", "k"]


# -- the verifier's evaluations of known weights ---------------------------------------------


def _saved_model(path: Path, seed: int) -> str:
    """The lab's model, untrained, saved as the notebook saves one (a model Part 5 refuses
    to train is never evaluated: graders/evaluate_model.py)."""
    import keras

    from tests.support.spellings import sequential

    keras.utils.set_random_seed(seed)
    model = sequential("relu", "softmax", ns=keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with public_checks().quiet():  # Keras's own NumPy 2 deprecation notice while saving
        model.save(path)
    return str(path)


@pytest.mark.system
def test_an_evaluation_is_reused_only_for_the_same_weights(tmp_path, monkeypatch):
    from graders import evaluate_model

    folder = tmp_path / "cache"
    monkeypatch.setenv(tc.CACHE_ENV, str(folder))
    first = _saved_model(tmp_path / "a.keras", seed=1)
    monkeypatch.delenv(tc.WRITE_ENV, raising=False)
    measured = evaluate_model.evaluate(first)  # a reader: measures, stores nothing
    assert "evaluation" not in measured and not (folder / tc.EVALUATIONS).exists()
    monkeypatch.setenv(tc.WRITE_ENV, "1")  # the instructor's make warm
    assert evaluate_model.evaluate(first) == measured
    assert len(list((folder / tc.EVALUATIONS).glob("*.json"))) == 1
    monkeypatch.delenv(tc.WRITE_ENV)
    known = evaluate_model.evaluate(first)
    assert known == {**measured, "evaluation": "known"}
    other = evaluate_model.evaluate(_saved_model(tmp_path / "b.keras", seed=2))
    assert "evaluation" not in other and other["accuracy"] != measured["accuracy"]
    for stored in (folder / tc.EVALUATIONS).glob("*.json"):
        stored.write_text("{broken")  # a damaged record is measured again, never trusted
    assert evaluate_model.evaluate(first) == measured


# -- the proof: real trainings of the notebook's models ----------------------------------------

PROOF = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from c1w3_checks import import_tensorflow
tf = import_tensorflow()
from graders import training_cache as tc

which, folder, write, out = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
# As the notebook: setup, load_data, then the training cell (re-seed, build, compile, fit).
tf.keras.utils.set_random_seed(42)
tf.config.experimental.enable_op_determinism()
(x, y), _ = tf.keras.datasets.fashion_mnist.load_data()
x = (x / 255.0).astype("float32").reshape(-1, 28, 28, 1)
tf.keras.utils.set_random_seed(42)
L = tf.keras.layers
if which == "dense":
    layers = [L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]
else:
    layers = [L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D(2, 2),
              L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D(2, 2), L.Flatten(),
              L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]
model = tf.keras.models.Sequential([tf.keras.Input(shape=(28, 28, 1)), *layers])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = tc.fit(model, x, y, epochs=5, batch_size=128, steps_per_execution=16,
                 folder=folder, write=write)
json.dump({
    "cache": history.training_cache,
    "weights": [tc.array_digest(v.numpy()) for v in model.weights],
    "optimizer": [tc.array_digest(v.numpy()) for v in model.optimizer.variables],
    "history": history.history,
    "iterations": int(model.optimizer.iterations.numpy()),
}, open(out, "w"))
"""


def _train(tmp_path, which, folder, write, name) -> dict:
    script = tmp_path / "proof.py"
    script.write_text(PROOF)
    out = tmp_path / f"{name}.json"
    env = dict(
        os.environ,
        PYTHONPATH=str(COURSE_ROOT / "source" / "c1w3_convolutions"),
        TF_NUM_INTRAOP_THREADS="2",  # as every grading (course/runner.py)
        TF_NUM_INTEROP_THREADS="2",
    )
    done = subprocess.run(
        [sys.executable, str(script), which, str(folder), "1" if write else "0", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


# The conv entry's proof is not repeated here (a real conv training costs 60-100 s): the same
# run proves it twice elsewhere. test_hostile_class.py's cache audit retrains the conv entry
# on its own in another process (course.training_cache audit: weights, optimizer variables
# and history compared bit for bit, "identical"), and the sample class's audit
# (test_end_to_end.py) regrades a conv hit with the cache off: the same saved weights and
# optimizer variables, the same points.
@pytest.mark.slow
@pytest.mark.parametrize("which", ["dense"])
def test_a_real_training_equals_the_cache_entry_bit_for_bit(tmp_path, which, training_cache):
    """The session's `make warm` (conftest.training_cache) wrote the entry from the source
    notebook; the same training here must hit it, and training again in another process with
    no cache must give the entry's bits exactly: weights, optimizer variables, history."""
    folder = tmp_path / "cache"
    shutil.copytree(training_cache, folder)
    before = tree(folder)
    hit = _train(tmp_path, which, folder, False, "hit")
    assert hit["cache"]["hit"], hit["cache"]
    assert tree(folder) == before  # a reader never writes
    entry = json.loads((folder / hit["cache"]["key"] / "entry.json").read_text())
    retrained = _train(tmp_path, which, "", False, "retrained")
    assert not retrained["cache"]["hit"]
    assert retrained["iterations"] == entry["iterations"] == 2345
    assert retrained["weights"] == entry["weights"]
    assert retrained["optimizer"] == entry["optimizer_digests"]
    assert retrained["history"] == entry["history"]
    assert {k: hit[k] for k in ("weights", "optimizer", "history", "iterations")} == {
        k: retrained[k] for k in ("weights", "optimizer", "history", "iterations")
    }
