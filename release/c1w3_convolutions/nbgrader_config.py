"""nbgrader settings that travel with this assignment to the student's machine.

nbgrader reads nbgrader_config.py from the folder it runs in: `nbgrader validate` run in
this folder, or the Validate button of a JupyterLab started in this folder. Without it
every cell gets 30 s, the training cells are interrupted on a laptop, and the later cells
check a half-trained model (the check in Part 5 then says so instead of "Success").
The course's grading machines use the course's own nbgrader_config.py, not this file.
"""

c = get_config()  # noqa: F821  (injected by nbgrader)

TRAINING_CELLS = ("train_dense_model", "train_conv_model")


def cell_timeout(cell):
    """Seconds a cell may run during Validate: the conv model's 5 epochs take 1-5 minutes on
    a laptop (more on one slow core); every other cell takes seconds."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    return 1800 if grade_id in TRAINING_CELLS else 300


c.Execute.timeout = 300
c.Execute.timeout_func = cell_timeout
