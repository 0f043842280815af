"""nbgrader configuration for the c1w3_convolutions course (read by every nbgrader command
run from this folder). Folder flow: source/ -> release/ -> submitted/ -> autograded/ -> feedback/.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets)

c.CourseDirectory.course_id = "c1w3_convolutions_course"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
# `nbgrader validate` leaves the graders' artifacts (_grading/) beside the source notebook;
# they must never be released to students or copied into a submission's working copy.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "_grading"]

# Student kernels inherit this process's environment. Level 3 silences TensorFlow's C++
# log lines (level 2 still lets an E-level tf.data line through during fit): nbgrader
# scores a test cell 0 if anything reaches its stderr.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
# Same thread pools on every grading machine: TensorFlow's results depend on their sizes even
# with op determinism (graders/settings.py, TF_THREADS: the one place they are set).
from graders.settings import TF_THREADS  # noqa: E402

os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = TF_THREADS


def cell_timeout(cell):
    """Seconds a cell may run. The two locked training cells train for real on 2 cores
    (conv model ~50-100 s, dense ~15 s): 600 s leaves room for a loaded or slower machine
    and for a student's heavier (wrong) model. Every other cell gets 60 s, so an infinite
    loop costs a minute, not ten."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    return 600 if grade_id in ("train_dense_model", "train_conv_model") else 60


c.Execute.timeout = 60  # used where no cell is given; cell_timeout decides per cell
c.Execute.timeout_func = cell_timeout

# What students see where a solution was: a runnable stub that says what is missing.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Deleted test cells still cost their points: autograde puts them back from the gradebook
# (RestoreDeletedCells fixes nbgrader 0.9.6's KeyError when the cell before one is locked).
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "course.nbgrader_plugins.RestoreDeletedCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback shows results and messages, never hidden test code or the TA's mark scheme
# (nbgrader's default feedback shows the restored hidden tests, and an error's traceback
# quotes the source lines around it, hidden ones included).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "course.nbgrader_plugins.HideTracebacks",
    "course.feedback.WhatToFix",  # a box first: points by part, each lost item's cause
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Untrusted code: every student's kernel runs in a bubblewrap sandbox with limits
# (course/sandbox.py; docs/threat-model.md). Sandbox.enabled = False is for debugging only.
c.Autograde.autograde_preprocessors = [
    "course.nbgrader_plugins.SandboxedExecute",
    "course.nbgrader_plugins.VerifyOutsideKernel",  # the points come from outside the kernel
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# The limits (c.Sandbox.memory_mb, c.SandboxedExecute.submission_seconds, c.TrainingCache.*,
# ...) are defined once, as traitlets with their defaults: README "Configuration knobs" lists
# them (`python -m course.knobs`). Set one here only to change it for this course.
