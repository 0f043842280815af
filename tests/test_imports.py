"""The package's shape (issue 22): no import circle, and graders/ -- what runs inside a
student's kernel and the verifier -- stays free of instructor code."""

from __future__ import annotations

import ast
from pathlib import Path

from course.layout import COURSE_ROOT

PACKAGES = ("graders", "course", "scenarios")
# What only the instructor's side may use: traitlets apps, nbgrader, the course's own tools.
NOT_IN_GRADERS = ("course", "scenarios", "tests", "traitlets", "nbgrader", "nbclient", "jinja2")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (COURSE_ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(COURSE_ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path) & known.keys() - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert cycles(graph()) == []


def test_graders_hold_only_what_runs_in_the_kernel_or_the_verifier():
    for name, path in modules().items():
        if not name.startswith("graders"):
            continue
        bad = sorted(
            i for i in imports(path) if i.split(".")[0] in NOT_IN_GRADERS and i != "graders"
        )
        assert bad == [], f"{path.relative_to(COURSE_ROOT)} imports {bad}"
        text = path.read_text()
        for marker in ("apt-get", "COURSE_ROOT"):
            assert marker not in text, f"{path.relative_to(COURSE_ROOT)} names {marker!r}"
