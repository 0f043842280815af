"""Two preprocessors this course plugs into nbgrader 0.9.6 (see nbgrader_config.py)."""

from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import OverwriteCells
from traitlets import Bool


class HideTracebacks(Preprocessor):
    """Feedback: error outputs keep their message and lose their traceback.

    IPython prints a few source lines around the failing line of a cell. In a test cell
    whose visible part fails (a NameError, say), those lines include the hidden tests below
    it -- and ClearHiddenTests only cleans the cell's source, not its outputs.
    """

    enabled = Bool(True)  # nbgrader registers preprocessors without enabling them

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    output["traceback"] = [message.rstrip(": ")]
        return cell, resources


class RestoreDeletedCells(OverwriteCells):
    """OverwriteCells whose deleted-test-cell restore does not crash.

    nbgrader 0.9.6 puts a deleted grade cell back after "the previous solution or grade
    cell", looked up by the source cell just before it; when that one is a plain locked
    cell (the training cell before `conv_test_accuracy`), autograde dies with a KeyError
    and the student gets no grade at all. Here the cell goes after the nearest earlier
    cell that is still in the submission, whatever its kind.
    """

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        source_by_id = {cell.name: cell for cell in source_nb.source_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        present = {
            cell.metadata["nbgrader"]["grade_id"]: cell
            for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id")
        }
        for grade_cell in source_nb.grade_cells:
            name = grade_cell.name
            if name in present:
                continue
            self.log.warning(f"Missing grade cell {name} encountered, adding to notebook")
            cell = self.missing_cell_transform(
                source_by_id[name], grade_cell.max_score, is_solution=name in solution_ids
            )
            earlier = [present[n] for n in order[: order.index(name)] if n in present]
            position = nb.cells.index(earlier[-1]) + 1 if earlier else 0
            nb.cells.insert(position, cell)
            present[name] = cell
        return nb, resources
