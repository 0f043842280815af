"""The instructor's side of the training cache (docs/training-cache.md): where it is and
whether kernels see it (``c.TrainingCache.*``), ``make warm`` and the entries' own audit.

The kernel's side -- the key, the entries, ``fit`` -- is :mod:`graders.training_cache`. The
one thing that crosses from here into a kernel is the folder's path, as
``NBGRADER_C1W3_TRAINING_CACHE`` in the sandbox's environment (:func:`kernel_variables`,
course/sandbox/ binds the folder read-only).

    python -m course cache {warm,audit,list} [--cache DIR] [--keys K ...] [--json]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from traitlets import Bool, Float, Integer, List, Unicode
from traitlets.config import Configurable

from course.app import PROG, CourseCommand, launch, lazy
from course.layout import COURSE_ROOT
from graders import ASSIGNMENT, CHECKS_ENV, CHECKS_FILE, settings
from graders import training_cache as kernel_side

DEFAULT_DIRNAME = ".training_cache"  # in the course root (.gitignore'd)
DISABLED = "DISABLED"  # written by a failed audit (course/audit.py): no kernel sees the cache


class TrainingCache(Configurable):
    """``c.TrainingCache.*`` in nbgrader_config.py: whether kernels see the cache, and where."""

    enabled = Bool(
        True,
        help="Let student kernels reuse the result of an identical instructor training "
        "(read-only). False: every submission trains for real.",
    ).tag(config=True)
    directory = Unicode(
        "", help=f"The cache folder; '' means <course root>/{DEFAULT_DIRNAME}."
    ).tag(config=True)
    audit_fraction = Float(
        0.03,
        help="After a batch, retrain this fraction of the cache hits for real (at least one "
        "student per entry used) and compare bits and points; where the trained weights "
        "differ, the entries are retrained on their own: only an entry that differs disables "
        "the cache and regrades every hit, else the student is flagged (course/audit.py). "
        "0: no audit.",
    ).tag(config=True)
    audit_entry_seconds = Integer(
        3600,
        help="The audit's retraining of entries on their own (one real training each); past "
        "it they count as unchecked and the cache is disabled.",
    ).tag(config=True)

    def path(self, course_root) -> Path:
        return Path(self.directory or Path(course_root) / DEFAULT_DIRNAME).resolve()

    def folder(self, course_root) -> Path | None:
        """The folder kernels may read, or None (disabled, not there, or disabled by a failed
        audit: a DISABLED file in it)."""
        if not self.enabled:
            return None
        path = self.path(course_root)
        return path if path.is_dir() and not (path / DISABLED).exists() else None


def kernel_variables(folder: Path | None) -> dict[str, str]:
    """What a kernel is told about the cache: its folder, or '' (none: overrides a name the
    grader's shell may hold). Never the writer's switch: the sandbox does not forward it."""
    return {kernel_side.CACHE_ENV: str(folder) if folder is not None else ""}


def thread_variables() -> dict[str, str]:
    """TensorFlow's pools as every grading sets them (course/runner.py): entries are trained,
    and retrained by the audit, with exactly these."""
    return dict(settings.TF_THREAD_VARIABLES)


def warm(folder: Path, timeout: int = 1200, source: Path | None = None) -> None:
    """Run the source notebook once (nbclient, no sandbox, no nbgrader) with this process
    allowed to write `folder`: every training it does becomes an entry."""
    import nbformat
    from nbclient import NotebookClient

    source = source or COURSE_ROOT / "source" / ASSIGNMENT
    env = {  # the kernel's, explicit: this process's environment is left alone
        **os.environ,
        kernel_side.CACHE_ENV: str(Path(folder).resolve()),
        kernel_side.WRITE_ENV: "1",
        CHECKS_ENV: str(Path(source).resolve() / CHECKS_FILE),  # the graders judge with it
        **settings.TF_QUIET,
        **thread_variables(),
    }
    with tempfile.TemporaryDirectory(prefix="c1w3-warm-") as tmp:
        work = Path(tmp) / ASSIGNMENT
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("_grading", ".ipynb*"))
        path = work / f"{ASSIGNMENT}.ipynb"
        nb = nbformat.read(path, as_version=4)
        start = time.monotonic()
        resources = {"metadata": {"path": str(work)}}
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources)
        client.execute(env=env)  # passed on to the kernel manager's start_kernel
        print(f"ran the source notebook in {time.monotonic() - start:.0f} s")
    if (Path(folder) / DISABLED).exists():
        print(
            f"note: {Path(folder) / DISABLED} (a failed audit) keeps every kernel from this "
            "cache: read it, then delete the cache folder and warm again"
        )
    for entry in sorted(Path(folder).glob("*/entry.json")):
        data = json.loads(entry.read_text())
        history = data["history"]
        print(
            f"{data['key'][:12]}: {data['iterations']} steps, "
            f"accuracy {history['accuracy'][-1]:.4f}, trained in {data['fit_seconds']} s"
        )


def _fit_args(fit_args: dict) -> dict:
    return {k: fit_args[k] for k in ("epochs", "batch_size", "steps_per_execution")}


def audit_entries(folder: Path, keys=None) -> dict[str, str]:
    """Retrain entries (all, or those whose key starts with one of `keys`) from their stored
    untrained model and random state, with no submission involved; compare every bit.
    Returns key (12 hex) -> "identical", "different" or "skipped: why"."""
    # The entries were trained with these pools (warm); TensorFlow reads them when its runtime
    # starts, so they must be this process's from the start (`main` re-runs itself with them).
    wrong = {k: os.environ.get(k) for k, v in thread_variables().items() if os.environ.get(k) != v}
    if wrong:
        raise RuntimeError(f"audit_entries needs {thread_variables()} at start-up, found {wrong}")
    import keras
    from keras.src.saving import serialization_lib
    from tensorflow.python.framework import config as tf_config

    from graders import data

    train_x, train_y = data.load_split("train")
    images = (train_x / 255.0).astype("float32").reshape(-1, 28, 28, 1)
    results = {}
    for entry_file in sorted(Path(folder).glob("*/entry.json")):
        entry = json.loads(entry_file.read_text())
        name = entry["key"][:12]
        if keys is not None and not any(entry["key"].startswith(k) for k in keys):
            continue
        parts = entry["ingredients"]
        digest = kernel_side.array_digest
        if parts["data"] != {"images": digest(images), "labels": digest(train_y)}:
            results[name] = "skipped: trained on other arrays than the notebook's"
            continue
        with warnings.catch_warnings():  # "Skipping variable loading for optimizer": unbuilt
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(entry_file.parent / "initial.keras", safe_mode=True)
        # As before its first fit: compiled, its optimizer not built yet (load_model builds it).
        compile_config = serialization_lib.deserialize_keras_object(model.get_compile_config())
        model.compile(**compile_config)
        if parts["threads"]["op_determinism"]:
            tf_config.enable_op_determinism()
        fit_args = _fit_args(parts["fit"])
        kernel_side.set_full_rng_state(entry["rng_state"])
        key = kernel_side.compute_key(model, images, train_y, **fit_args)
        if key != entry["key"]:
            results[name] = f"skipped: this machine or software gives another key ({key[:12]})"
            continue
        history = kernel_side.fit(model, images, train_y, folder="", write=False, **fit_args)
        same = (
            [digest(v.numpy()) for v in model.weights] == entry["weights"]
            and [digest(v.numpy()) for v in model.optimizer.variables] == entry["optimizer_digests"]
            and history.history == entry["history"]
        )
        results[name] = "identical" if same else "different"
    return results


def audit(folder: Path, keys=None, as_json: bool = False) -> int:
    """`audit_entries`, printed (one line per entry, or one JSON object); 1 if any differs."""
    results = audit_entries(folder, keys)
    lines = [json.dumps(results)] if as_json else [f"{k}: {v}" for k, v in results.items()]
    print("\n".join(lines))
    return 1 if "different" in results.values() else 0


class _CacheCommand(CourseCommand):
    takes_knobs = False  # the folder is given; nothing here reads c.TrainingCache.*
    cache = Unicode(str(COURSE_ROOT / DEFAULT_DIRNAME), help="The cache folder.").tag(config=True)
    options = {"course": None, "cache": "cache"}  # a cache folder is given, not a course


class WarmApp(_CacheCommand):
    name = f"{PROG} warm"
    description = "Run the source notebook once, outside any sandbox, to fill the cache."

    def run(self) -> int:
        warm(Path(self.cache))
        return 0


class AuditApp(_CacheCommand):
    name = f"{PROG} cache audit"
    description = "Retrain entries from their stored untrained state; 1 if any differs."
    keys = List(Unicode(), help="Only entries whose key starts so.").tag(config=True, several=True)
    as_json = Bool(False, help="One JSON object.").tag(config=True)
    options = {"keys": "keys"}
    switches = {"json": "as_json"}

    def run(self) -> int:
        if any(os.environ.get(k) != v for k, v in thread_variables().items()):
            # TensorFlow's pools are fixed when its runtime starts: a child with them set
            child = [
                sys.executable,
                "-m",
                "course.training_cache",
                "audit",
                f"--cache={self.cache}",
            ]
            child += [*(["--keys", *self.keys] if self.keys else []), *(["--json"] * self.as_json)]
            env = {**os.environ, **settings.TF_QUIET, **thread_variables()}
            return subprocess.run(child, env=env).returncode
        return audit(Path(self.cache), list(self.keys) or None, self.as_json)


class ListApp(_CacheCommand):
    name = f"{PROG} cache list"
    description = "One line per entry: key, written, iterations, last accuracy."

    def run(self) -> int:
        for entry in sorted(Path(self.cache).glob("*/entry.json")):
            data = json.loads(entry.read_text())
            print(data["key"], data["written"], data["iterations"], data["history"]["accuracy"][-1])
        return 0


class CacheApp(CourseCommand):
    name = f"{PROG} cache"
    description = "The training cache: warm, audit or list its entries."
    subcommands = {
        "warm": (lazy(WarmApp), WarmApp.description),
        "audit": (lazy(AuditApp), AuditApp.description),
        "list": (lazy(ListApp), ListApp.description),
    }


def main(argv=None) -> int:
    return launch(CacheApp, argv)


if __name__ == "__main__":
    sys.exit(main())
