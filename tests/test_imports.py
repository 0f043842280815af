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


def test_no_circle_between_packages():
    """graders <- course <- scenarios, never back: a module-level check misses a circle
    through two packages (course.demo once imported scenarios, which import course)."""
    edges = {package: set() for package in PACKAGES}
    for name, targets in graph().items():
        edges[name.split(".")[0]] |= {t.split(".")[0] for t in targets} - {name.split(".")[0]}
    assert cycles(edges) == [], edges


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


def test_the_instructors_tools_read_the_check_registry_not_the_kernel_side_checks():
    """course/ learns points, answer names and how a grade id is judged from graders.registry
    (plain data), never from graders.hidden (numpy, Keras on demand, the student's kernel)."""
    for name, path in modules().items():
        if name.startswith("course"):
            assert "graders.hidden" not in imports(path), f"{name} imports graders.hidden"
    assert imports(COURSE_ROOT / "graders/registry.py") <= {
        "__future__",
        "__future__.annotations",
        "dataclasses",
        "dataclasses.dataclass",
    }


# None left: nbgrader's Gradebook runs `alembic` by name to stamp a new database, so a new
# gradebook is made in an nbgrader child given PATH explicitly (course.gradebook.create_in_child).
ENVIRON_WRITES_ALLOWED: set[tuple[str, str]] = set()


def environ_writes(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of every write to os.environ in `path`: an item assigned or
    deleted, or a mutating method called (update, setdefault, pop, clear, popitem)."""
    tree = ast.parse(path.read_text())
    owner = {}
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                owner.setdefault(node, function.name)

    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if not isinstance(node, ast.AugAssign) else [node.target]
        hit = any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets)
        mutating = ("update", "setdefault", "pop", "clear", "popitem")
        hit |= (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in mutating
            and is_environ(node.func.value)
        ) or (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "putenv")
        if hit:
            found.append((owner.get(node, "<module>"), node.lineno))
    return found


def test_the_instructors_process_environment_is_never_written(tmp_path):
    """Children get explicit environments (issue 30): course/ and the course's
    nbgrader_config.py never write os.environ."""
    paths = [*sorted((COURSE_ROOT / "course").rglob("*.py")), COURSE_ROOT / "nbgrader_config.py"]
    writes = {
        (str(path.relative_to(COURSE_ROOT)), function, line)
        for path in paths
        for function, line in environ_writes(path)
    }
    assert {(p, f) for p, f, _ in writes} <= ENVIRON_WRITES_ALLOWED, sorted(writes)
    # the checker finds both kinds of write
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nos.environ['A'] = '1'\ndef f():\n    os.environ.update(B='2')\n")
    assert environ_writes(probe) == [("<module>", 2), ("f", 4)]


def test_no_test_file_imports_another():
    """What several test files share lives in tests/support/ (issue 30): a test file imported
    by another would have its module-level fixtures and gradings pulled in twice."""
    tests = COURSE_ROOT / "tests"
    for path in sorted(tests.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                assert node.level == 0, f"{path.name}: a relative import"
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            bad = [n for n in names if n.startswith(("tests.test_", "tests.conftest"))]
            assert not bad, f"{path.name} imports {bad}: move what it needs to tests/support/"
