"""``nbgrader`` as this course's own processes run it: ``python -m course.nbgrader_cli
<nbgrader arguments>`` is ``nbgrader <arguments>``, started without one import that costs
more than the rest of nbgrader's start and that no step of a grading uses.

jsonschema (imported by nbformat) imports ``rfc3987_syntax`` eagerly, if it is installed, for
two format checks ("iri", "iri-reference"); that module builds ~35 Earley parsers when it is
imported: ~1.2-1.5 s of CPU in every process that reads a notebook (python-jsonschema
issue #1428; ``benchmarks/process_start.py`` measures it beside plain ``nbgrader``). No
schema nbformat validates notebooks with uses those formats (tests/test_nbgrader_cli.py
checks nbformat's schemas): without the module jsonschema simply skips the two checks.
``None`` in ``sys.modules`` is Python's own way to make an import fail at once.
"""

from __future__ import annotations

import sys

# Optional imports of libraries we use that no grading step needs (see above).
UNUSED_IMPORTS = ("rfc3987_syntax",)


def skip_unused_imports() -> None:
    """Before nbformat is imported: its optional, slow imports fail at once (as if absent)."""
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, None)


def argv(*args: str) -> list[str]:
    """The command line of ``nbgrader <args>`` with this interpreter (course/runner.py).
    ``-P``: the working directory (a course folder) is not put on ``sys.path``, as it is not
    for the ``nbgrader`` script either; ``-m`` alone would put it first."""
    return [sys.executable, "-P", "-m", "course.nbgrader_cli", *args]


def main() -> int:
    skip_unused_imports()
    from nbgrader.apps.nbgraderapp import main as nbgrader_main

    sys.argv[0] = "nbgrader"  # its usage and error lines name the command the user knows
    return nbgrader_main()


if __name__ == "__main__":
    sys.exit(main())
