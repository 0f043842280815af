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

# Nothing here writes this process's environment: student kernels and the verifier get
# TensorFlow's thread pools and quiet logging in an explicit environment
# (course.nbgrader_plugins.grader_variables; the values: graders/settings.py).

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
# (course/sandbox/; docs/threat-model.md). Sandbox.enabled = False is for debugging only.
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
# ...) are defined once, as traitlets with their defaults: docs/configuration.md lists
# them (`python -m course.knobs`). Set one here only to change it for this course.
