"""Feedback preprocessor: error outputs keep their message and lose their traceback.

IPython prints a few source lines around the failing line of a cell. In a test cell
whose visible part fails (a NameError, say), those lines include the hidden tests below
it -- and ClearHiddenTests only cleans the cell's source, not its outputs.
"""

from nbconvert.preprocessors import Preprocessor


class HideTracebacks(Preprocessor):
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    output["traceback"] = [message.rstrip(": ")]
        return cell, resources
