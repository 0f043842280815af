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
# with op determinism (course/runner.py, TF_THREADS).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")


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
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Untrusted code: every student's kernel runs in a bubblewrap sandbox with limits
# (course/sandbox.py; README, "Threat model"). Sandbox.enabled = False is for debugging only.
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
c.Sandbox.memory_mb = 3072  # honest training peaks near 2 GB (README, "Benchmarks")
c.Sandbox.max_processes = 512  # processes + threads; TensorFlow starts ~60 threads
c.Sandbox.disk_mb = 1024  # working copy on disk, and the private /tmp (a tmpfs)
c.Sandbox.file_size_mb = 256
c.SandboxedExecute.submission_seconds = 900  # all cells of one notebook together
c.SandboxedExecute.max_output_kb = 2048
