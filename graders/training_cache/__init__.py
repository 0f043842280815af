"""A content-addressed training cache: a correct submission's autograde does not repeat the
identical 5-epoch training (issue 14; README, "Training cache").

Every honest submission trains the same model, from the same initial weights (the locked
training cell re-seeds right before it builds the model), on the same data, with the same
recipe, on the same software and CPU. The result of that computation is stored once, under a
SHA-256 *key* over everything that decides it; a training whose key is already stored loads
the stored result instead of computing it again: the trained weights, the optimizer's state
(its step counter is what the verifier checks) and the history, and prints the stored
per-epoch lines.

- The key (:func:`ingredients`): the model as a normalised spec (layer classes and settings,
  activations by the function they call, a straight chain from one input to one output), the
  bytes of every weight and of the optimizer's variables (if any exist yet), the optimizer's
  settings, the loss and metrics, the digests of the training arrays actually passed in, epochs,
  batch size, steps per call, the TensorFlow/Keras/NumPy/Python versions, TensorFlow's thread
  settings, the CPU's feature flags (they pick oneDNN's kernels), and the state of every random
  generator fit may draw from (Python, NumPy, Keras, TensorFlow's eager seed stream). Anything
  it cannot describe exactly (a custom layer, a lambda activation, a subclassed model, a graph
  that is not a chain) makes the training *uncacheable*: it trains for real.
- Who reads: ``fit_lab_model`` in c1w3_checks.py, only when ``NBGRADER_C1W3_TRAINING_CACHE``
  names a folder (grading machines; the sandbox binds that folder read-only). A student's
  laptop has neither the variable nor this package: there it is plain ``model.fit``.
- Who writes: only a process with ``C1W3_TRAINING_CACHE_WRITE=1`` (``make warm``: the source
  notebook run once by the instructor, outside any sandbox). The sandbox never forwards that
  variable and binds the folder read-only, so a student's code cannot add or change an entry.
- A broken, partial or foreign entry is a miss (train for real), never an error.

Why a hit cannot change a grade: an entry holds what an honest training of the lab's model
produced; a student whose key matched gets exactly that, which the correct code would have
given them anyway, and the verifier still judges the saved model itself. The proof that a hit
equals a real training bit for bit is tests/test_training_cache.py (slow) and
``python -m course.training_cache audit`` (retrains stored entries and compares every bit).
"""

from __future__ import annotations

from graders.training_cache.entries import (
    CACHE_ENV,
    EVALUATIONS,
    WRITE_ENV,
    evaluation_key,
    known_evaluation,
    load_entry,
    restore,
    store,
    store_evaluation,
    writer_enabled,
)
from graders.training_cache.fitting import HITS, fit, record_hit, set_full_rng_state
from graders.training_cache.key import (
    FORMAT,
    VERBOSE,
    Uncacheable,
    array_digest,
    compute_key,
    cpu_flags,
    ingredients,
    key_of,
    model_spec,
)

__all__ = [
    "CACHE_ENV", "EVALUATIONS", "FORMAT", "HITS", "VERBOSE", "WRITE_ENV", "Uncacheable",
    "array_digest", "compute_key", "cpu_flags", "evaluation_key", "fit", "ingredients",
    "key_of", "known_evaluation", "load_entry", "model_spec", "record_hit", "restore",
    "set_full_rng_state", "store", "store_evaluation", "writer_enabled",
]  # fmt: skip
