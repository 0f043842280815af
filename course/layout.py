"""Where one assignment's files live in a course folder: nbgrader's own ``CourseDirectory``
(its folder names and ``directory_structure``, from the course's nbgrader_config.py) plus the
reports this package writes. Every path is built here, so a second assignment is a new
``Layout(root, "other")``, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from graders import ASSIGNMENT, CHECKS_FILE
from graders.artifacts import GRADING_DIR

# The course folder this package sits in: nbgrader_config.py, source/, submitted/, ...
COURSE_ROOT = Path(__file__).resolve().parent.parent


def load_config(root: Path):
    """The course's nbgrader_config.py as a traitlets Config (empty if there is none)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config_file = Path(root) / "nbgrader_config.py"
    if not config_file.exists():
        return Config()
    return PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()


@dataclass(frozen=True)
class Layout:
    root: Path
    assignment: str = ASSIGNMENT

    @cached_property
    def config(self):
        return load_config(self.root)

    @cached_property
    def coursedir(self):
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config, root=str(Path(self.root).resolve()))

    def folder(self, step: str, student: str = ".") -> Path:
        """step: source, release, submitted, autograded or feedback."""
        name = getattr(self.coursedir, f"{step}_directory")
        return Path(self.coursedir.format_path(name, student, self.assignment))

    def notebook(self, step: str, student: str = ".") -> Path:
        suffix = ".html" if step == "feedback" else ".ipynb"
        return self.folder(step, student) / f"{self.assignment}{suffix}"

    @property
    def public_checks(self) -> Path:
        """The course's c1w3_checks.py: what the graders judge with (graders.checks_path)."""
        return (self.folder("source") / CHECKS_FILE).resolve()

    def grading_dir(self, student: str) -> Path:
        """The artifacts the verifier judged (graders/artifacts.py), beside the notebook."""
        return self.folder("autograded", student) / GRADING_DIR

    @property
    def reports(self) -> Path:
        return Path(self.root) / "reports"

    def run_record(self, student: str) -> Path:
        return self.reports / "runs" / self.assignment / f"{student}.json"

    def integrity_record(self, student: str) -> Path:
        return self.reports / "integrity" / self.assignment / f"{student}.json"

    @property
    def runs_log(self) -> Path:
        return self.reports / f"{self.assignment}_runs.json"

    @property
    def cache_audit(self) -> Path:
        return self.reports / f"{self.assignment}_cache_audit.json"

    def students(self, step: str = "submitted") -> list[str]:
        """Students with a folder for this assignment at `step`."""
        base = Path(self.root) / getattr(self.coursedir, f"{step}_directory")
        return sorted(p.parent.name for p in base.glob(f"*/{self.assignment}") if p.is_dir())
