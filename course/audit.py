"""Audit the training cache after a batch (``c.TrainingCache.audit_fraction``;
docs/training-cache.md).

A cache hit is exact only if the stored entry is what training again gives on this machine.
After a batch, this regrades a random sample of the students whose trainings were hits with
the cache switched off (a real training, in the sandbox, into the same gradebook) and compares
the trained model's every weight and optimizer variable and every score with the hit's. At
least one student per distinct entry is audited, so every entry a batch relied on is retrained
at least once.

A difference has two possible sources: the entry (then no grade may rest on it) or the
submission, which may behave differently when its training is real (slower, or it reads its
own history's ``training_cache``). The entries involved are therefore retrained once more on
their own, from their stored untrained model and random state, no submission involved
(``course.training_cache.audit_entries``). Entries identical: the difference is the
submission's; that student keeps the real training's grade (the audit's regrade), is flagged
for the TA, and the cache stays on for everyone else. An entry differs, or cannot be checked:
the cache is disabled (a ``DISABLED`` file in its folder says why) and every other hit of the
batch is regraded for real.

Which trainings were hits is read from the record the training cell writes on a hit
(``_grading/training_cache_hits.json``, graders.training_cache.record_hit). A student cannot
gain from it: it only decides who may be picked for a retraining.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from course import gradebook, runner
from course.context import GradingContext
from course.layout import Layout
from course.training_cache import DISABLED, TrainingCache
from graders import ASSIGNMENT, artifacts, settings
from graders import training_cache as kernel_side

WEIGHTS_DIFFER = "trained weights differ from the cache hit's"


def report_path(course: Path, assignment: str = ASSIGNMENT) -> Path:
    return Layout(course, assignment).cache_audit


@dataclass
class Audit:
    fraction: float
    hits: dict[str, list[str]] = field(default_factory=dict)  # student -> entry keys (12 hex)
    audited: dict[str, str] = field(default_factory=dict)  # student -> "identical" or why not
    regraded: list[str] = field(default_factory=list)  # after a mismatch, without the cache
    entries: dict[str, str] = field(default_factory=dict)  # key -> the entry's own retraining
    flagged: dict[str, str] = field(default_factory=dict)  # student -> what their run changed
    disabled: str = ""  # why the cache was switched off ('' = still on)
    seconds: float = 0.0

    @property
    def identical(self) -> bool:
        return all(v == "identical" for v in self.audited.values())

    def line(self) -> str:
        if not self.hits:
            return "training cache audit: no hits in this batch"
        keys = sorted({k for ks in self.hits.values() for k in ks})
        if not self.audited:  # "identical" would claim a check that never ran
            return (
                f"training cache audit: off (c.TrainingCache.audit_fraction = {self.fraction:g}): "
                f"{len(self.hits)} students' trainings were cache hits ({len(keys)} entries), "
                "none retrained"
            )
        head = (
            f"training cache audit: {len(self.audited)} of {len(self.hits)} students whose "
            f"trainings were cache hits retrained for real ({len(keys)} entries)"
        )
        if self.identical:
            return f"{head}: identical, bit for bit and point for point"
        if not self.disabled:
            confirmed = "entries retrained on their own" if self.entries else "same trained weights"
            return (
                f"{head}: the submission changed the result for "
                f"{'; '.join(f'{s} ({v})' for s, v in sorted(self.flagged.items()))}, the "
                f"cache did not ({confirmed}): cache kept, flagged, graded on the real training"
            )
        return (
            f"{head}: DIFFERENT ({'; '.join(f'{s}: {v}' for s, v in self.audited.items())}); "
            f"cache disabled, {len(self.regraded)} more regraded without it"
        )


def hit_keys(grading_dir: Path) -> list[str]:
    """The cache entries (12-hex key prefixes) a graded notebook's trainings were served
    from, as its training cells recorded them (graders.training_cache.record_hit)."""
    keys = (artifacts.read(kernel_side.HITS, grading_dir) or {}).get("keys")
    if not isinstance(keys, list):
        return []
    return sorted({k[:12] for k in keys if isinstance(k, str) and len(k) >= 12})


def saved_arrays(layout: Layout, student: str) -> dict[str, np.ndarray]:
    """name -> array, every array (weights and optimizer variables) in the saved conv_model,
    read straight from the .keras file (no TensorFlow); {} if there is none."""
    import h5py

    path = layout.grading_dir(student) / "conv_model.keras"
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read("model.weights.h5")
    except (OSError, KeyError, zipfile.BadZipFile):
        return {}
    arrays = {}
    with h5py.File(io.BytesIO(raw), "r") as h5:

        def collect(name, obj):  # returns None: visititems stops at any other value
            if isinstance(obj, h5py.Dataset):
                arrays[name] = np.ascontiguousarray(obj[()])

        h5.visititems(collect)
    return arrays


def trained_state(layout: Layout, student: str, arrays: dict | None = None) -> str | None:
    """SHA-256 over every array in the saved conv_model (`arrays`, if already read): None if
    there is none."""
    arrays = saved_arrays(layout, student) if arrays is None else arrays
    if not arrays:
        return None
    digest = hashlib.sha256()
    for name, array in sorted(arrays.items()):
        digest.update(f"{name}:{array.dtype.str}:{array.shape}:".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def entries_behind(arrays: dict, keys: list[str], folder: Path | None) -> list[str]:
    """Those of `keys` (the student's hits) whose stored trained weights are among `arrays`
    (the saved conv_model's): the entries its grade rests on (the dense baseline's does not).
    All of `keys` where that cannot be told."""
    found = {kernel_side.array_digest(a)["sha256"] for a in arrays.values()}
    behind = []
    for key in keys:
        for entry_file in folder.glob(f"{key}*/entry.json") if folder else []:
            try:
                weights = json.loads(entry_file.read_text())["weights"]
            except (OSError, ValueError, KeyError):
                continue
            if weights and all(w.get("sha256") in found for w in weights):
                behind.append(key)
    return behind or list(keys)


def scores(grading: GradingContext, student: str) -> dict:
    with gradebook.open_gradebook(grading.root, grading.db_url) as gb:
        assignment = grading.assignment
        notebook = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: g.score for g in notebook.grades}


def select(hits: dict[str, list[str]], fraction: float, rng: random.Random) -> list[str]:
    """One random student per distinct entry, then random others up to `fraction` of hits."""
    if fraction <= 0 or not hits:
        return []
    chosen: list[str] = []
    for key in sorted({k for ks in hits.values() for k in ks}):
        if not any(key in hits[s] for s in chosen):
            chosen.append(rng.choice(sorted(s for s, ks in hits.items() if key in ks)))
    rest = sorted(set(hits) - set(chosen))
    extra = max(0, math.ceil(fraction * len(hits)) - len(chosen))
    return chosen + rng.sample(rest, min(extra, len(rest)))


def _disable(grading: GradingContext, config, result: Audit, regrade, say) -> None:
    """An entry failed: switch the cache off and regrade every other hit of the batch."""
    folder = config.folder(grading.root)
    whys = [f"{s}: {v}" for s, v in result.audited.items() if v != "identical"]
    whys += [f"entry {k}: {v}" for k, v in result.entries.items() if v != "identical"]
    result.disabled = f"audit of {time.strftime('%Y-%m-%d %H:%M')}: " + "; ".join(whys)
    if folder is not None:
        (folder / DISABLED).write_text(result.disabled + "\n")
    for student in sorted(set(result.hits) - set(result.audited)):
        say(f"regrading {student} without the training cache ...")
        regrade(grading.without_training_cache(), student)
        result.regraded.append(student)


def check_entries(folder: Path | None, keys: list[str], timeout: float) -> dict[str, str]:
    """key -> "identical", "different" or why it was not checked: each entry retrained on its
    own (``python -m course.training_cache audit --json``, outside any sandbox: no student
    code runs, only the instructor's stored initial model)."""
    if folder is None:
        return {k: "not checked: no cache folder" for k in keys}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "course.training_cache", "audit", "--json", "--cache",
             str(folder), "--keys", *keys],
            capture_output=True, text=True,
            env={**os.environ, **settings.TF_QUIET, **settings.TF_THREAD_VARIABLES},
            timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {k: f"not checked: over {timeout:g} s" for k in keys}
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {k: f"not checked: the retraining failed ({tail[:200]})" for k in keys}
    return {k: found.get(k, "not checked: no such entry") for k in keys}


def audit_batch(
    grading: GradingContext,
    runs,
    *,
    fraction: float | None = None,
    seed: int | None = None,
    regrade=runner.grade_student,
    read_scores=scores,
    entries_check=check_entries,
) -> Audit:
    """Audit the hits among `runs` (this batch's GradingRuns); writes the report file.
    `regrade(grading, student)` grades one student again (`grading` has the cache off);
    `read_scores(grading, student)` reads their points; `entries_check(folder, keys,
    timeout)` retrains entries on their own."""
    layout = grading.layout
    say = runner.log.info
    start = time.monotonic()
    config = TrainingCache(config=grading.config)
    fraction = config.audit_fraction if fraction is None else fraction
    result = Audit(fraction=fraction)
    for run in runs:
        keys = hit_keys(layout.grading_dir(run.student)) if run.ok else []
        if keys:
            result.hits[run.student] = keys
    rng = random.Random(seed)
    real = grading.without_training_cache()
    folder = config.folder(grading.root)
    behind = {}
    for student in select(result.hits, fraction, rng):
        arrays = saved_arrays(layout, student)  # the hit's, read once
        behind[student] = entries_behind(arrays, result.hits[student], folder)
        before = (trained_state(layout, student, arrays), read_scores(grading, student))
        say(f"auditing the training cache: retraining {student} for real ...")
        run = regrade(real, student)
        after = (trained_state(layout, student), read_scores(grading, student))
        if not run.ok:
            result.audited[student] = f"the regrade failed ({run.reason})"
        elif after[0] != before[0]:
            result.audited[student] = WEIGHTS_DIFFER
        elif after[1] != before[1]:
            result.audited[student] = f"scores differ: {before[1]} with the hit, {after[1]} without"
        else:
            result.audited[student] = "identical"
    # Same trained weights: the cache's claim held, and any other difference (scores, a failed
    # regrade) is the submission's. Other weights: the entries on their own decide.
    differing = {s: v for s, v in result.audited.items() if v != "identical"}
    trained = [s for s, v in differing.items() if v == WEIGHTS_DIFFER]
    if trained:  # only the entries the saved model came from: its weights are what differ
        keys = sorted({k for s in trained for k in behind[s]})
        say(f"auditing the training cache: retraining entries {', '.join(keys)} on their own ...")
        result.entries = entries_check(folder, keys, config.audit_entry_seconds)
    if all(v == "identical" for v in result.entries.values()):
        result.flagged = differing
    else:
        _disable(grading, config, result, regrade, say)
    result.seconds = round(time.monotonic() - start, 1)
    layout.cache_audit.parent.mkdir(parents=True, exist_ok=True)
    layout.cache_audit.write_text(json.dumps(asdict(result), indent=1))
    say(result.line())
    return result


def read(course: Path, assignment: str = ASSIGNMENT) -> Audit | None:
    try:
        return Audit(**json.loads(report_path(course, assignment).read_text()))
    except (OSError, ValueError, TypeError):
        return None
