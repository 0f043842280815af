"""One grading's values, resolved once and handed down (``make grade``, ``make
grade-cluster``, the audit, the TA summary).

A :class:`GradingContext` holds the course's :class:`~course.layout.Layout` (its
nbgrader_config.py loaded once), the gradebook URL (``--db-url``, else ``$C1W3_DB_URL``,
else the course's SQLite file: read here, once), whether student kernels may reuse the
training cache, and the grading limits (:class:`GradingLimits`, ``c.GradingLimits.*``).
Every function that grades or reads grades requires one as its first argument, `grading`.
Only an entry point (a command, a script, a test's setup) builds it from a course folder and
its command-line values (:meth:`GradingContext.of`), once, and hands it down: one place
decides the gradebook, so no function deep down can fall back to $C1W3_DB_URL on its own.
"""

from __future__ import annotations

import hashlib
import os
import re
from copy import deepcopy
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from traitlets import Float, Integer
from traitlets.config import Configurable

from course import gradebook
from course.layout import Layout
from graders import ASSIGNMENT, settings


class GradingLimits(Configurable):
    """``c.GradingLimits.*``: the bar and the time limits of a grading, besides nbgrader's
    and the sandbox's own."""

    min_test_accuracy = Float(
        settings.DEFAULT_MIN_TEST_ACCURACY,
        help="Test accuracy conv_test_accuracy requires of the lab's model, measured by the "
        "grader outside the notebook (derivation: docs/threshold.md).",
    ).tag(config=True)
    evaluation_seconds = Integer(
        settings.DEFAULT_EVAL_TIMEOUT_S,
        help="Time for evaluating a saved model in a child process (TensorFlow start, load, "
        "70,000 images) where it is not evaluated in the verifier itself.",
    ).tag(config=True)
    process_seconds = Integer(
        1500,
        help="Wall time of one student's whole `nbgrader autograde` process (start, every "
        "cell, the verifier, writing), a backstop behind c.SandboxedExecute.submission_seconds; "
        "past it the submission fails with that reason.",
    ).tag(config=True)
    cores_per_task = Integer(
        2,
        help="Cores per grading on a Dask LocalCluster: workers = cores // this "
        "(`--workers N` overrides).",
    ).tag(config=True)

    def kernel_variables(self) -> dict[str, str]:
        """The values a kernel and the verifier read (graders/settings.py)."""
        return {
            settings.MIN_ACCURACY_ENV: repr(float(self.min_test_accuracy)),
            settings.EVAL_TIMEOUT_ENV: str(self.evaluation_seconds),
        }


OPTION = re.compile(r"--[A-Za-z_]\w*\.[A-Za-z_]\w*=.*", re.S)


def config_options(argv) -> tuple[str, ...]:
    """`--Class.trait=value` options (as every nbgrader command takes them), checked: any
    other argument is refused with its name."""
    wrong = [arg for arg in argv if not OPTION.fullmatch(arg)]
    if wrong:
        raise ValueError(f"not a --Class.trait=value option: {' '.join(wrong)}")
    return tuple(argv)


@dataclass(frozen=True)
class GradingContext:
    layout: Layout
    db_url: str
    training_cache: bool = True  # False: every kernel trains for real (the audit's regrades)
    # `--Class.trait=value` from the command line: over nbgrader_config.py, here and in
    # every nbgrader process of this grading (nbgrader_options)
    options: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, course, assignment: str = ASSIGNMENT, db_url: str | None = None, options=()
    ) -> GradingContext:
        """The context of the course folder `course`: `db_url` (else $C1W3_DB_URL, else the
        folder's SQLite file) and `options` (`--Class.trait=value`) over its config."""
        if isinstance(course, GradingContext):
            # a context is passed down as it is: building another from it would re-read
            # the gradebook URL and could silently disagree with the one it carries
            raise TypeError(
                "GradingContext.of takes a course folder, not a GradingContext: pass the "
                "context itself on"
            )
        # absolute (Dask workers may start elsewhere), not resolved: the default SQLite URL
        # names the folder as given
        root = Path(os.path.abspath(course))
        url = gradebook.normalize(db_url or gradebook.db_url(root))
        return cls(Layout(root, assignment), url, options=config_options(options))

    @property
    def root(self) -> Path:
        return Path(self.layout.root)

    @property
    def assignment(self) -> str:
        return self.layout.assignment

    @cached_property
    def config(self):
        """nbgrader_config.py, with the command line's options over it."""
        if not self.options:
            return self.layout.config
        from traitlets.config.loader import KVArgParseConfigLoader

        config = deepcopy(self.layout.config)
        config.merge(KVArgParseConfigLoader(argv=list(self.options)).load_config())
        return config

    @cached_property
    def limits(self) -> GradingLimits:
        return GradingLimits(config=self.config)

    def without_training_cache(self) -> GradingContext:
        return replace(self, training_cache=False)

    def nbgrader_options(self) -> list[str]:
        """Command-line options that give an nbgrader process this context's values (the
        default SQLite gradebook needs none)."""
        options = []
        if self.db_url != gradebook.default_url(self.root):
            options.append(f"--CourseDirectory.db_url={self.db_url}")
        options += self.options
        if not self.training_cache:
            options.append("--TrainingCache.enabled=False")
        return options

    @cached_property
    def setup_hash(self) -> str:
        """Hash of what decides the points besides the submission: the source notebook (its
        hidden tests), nbgrader_config.py and the graders package. A fixed hidden test must
        regrade everyone, or only-missing grading would keep grades from the old tests."""
        return files_hash(self.setup_files())

    def setup_files(self) -> list[tuple[Path, Path]]:
        """The files :attr:`setup_hash` covers: the source folder, the config, and every
        module of the graders package, its subpackages included."""
        import graders

        files = visible_files(self.layout.folder("source"))
        config = self.root / "nbgrader_config.py"
        if config.exists():
            files.append((self.root, config))
        package = Path(graders.__file__).parent
        files += [(package.parent, p) for p in package.rglob("*.py")]
        return files


def files_hash(paths_under: list[tuple[Path, Path]]) -> str:
    """sha256 over (relative path, bytes) of each file, in a stable order."""
    digest = hashlib.sha256()
    for base, path in sorted(paths_under, key=lambda bp: str(bp[1])):
        digest.update(str(path.relative_to(base)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def visible_files(folder: Path) -> list[tuple[Path, Path]]:
    # .ipynb_checkpoints and other dot-folders are not part of what a student submits
    return [
        (folder, p)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
