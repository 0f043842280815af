"""A cell as normalised Python tokens: the student's own names and every literal replaced,
so a renamed, reformatted copy lexes alike. A regex, not the standard tokenize: it must read
the half-finished cells tokenize rejects (an unterminated string, a bad dedent)."""

from __future__ import annotations

import ast
import functools
import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass

# ------------------------------------------------------------------ reading notebooks

TOKEN = re.compile(
    r"""
     (?P<ws>\s+|\\\n)
    |(?P<comment>\#[^\n]*)
    |(?P<string>(?:[rRbBuUfF]{1,2})?(?:'''[\s\S]*?(?:'''|\Z)|\"\"\"[\s\S]*?(?:\"\"\"|\Z)
                 |'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?))
    |(?P<number>(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)
                 [jJ]?)
    |(?P<name>[^\W\d]\w*)
    |(?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^@<>=!]=|[-+*/%&|^@~<>=.,:;()\[\]{}])
    |(?P<other>\S)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    norm: str  # what is compared: V for the student's own names, N and S for literals
    start: int  # character offsets in the cell's source
    end: int


def bound_names(source: str) -> set[str] | None:
    """Names the cell itself binds (variables, functions, arguments, imports): the student's
    to choose. None if the cell does not parse."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def tokens(source: str, drop_lines: Iterable[str] = ()) -> list[Token]:
    """The cell as normalised tokens, without comments and without the lines whose stripped
    text is one of `drop_lines` (the released template's)."""
    drop = {line.strip() for line in drop_lines if line.strip()}
    bound = bound_names(source)
    line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
    kept_lines = [
        source[start : (line_starts[i + 1] if i + 1 < len(line_starts) else len(source))].strip()
        not in drop
        for i, start in enumerate(line_starts)
    ]
    out, line, previous = [], 0, ""
    for m in TOKEN.finditer(source):
        kind, text, start = m.lastgroup, m.group(), m.start()
        while line + 1 < len(line_starts) and line_starts[line + 1] <= start:
            line += 1
        if kind in ("ws", "comment") or not kept_lines[line]:
            continue
        if kind == "string":
            norm = "S"
        elif kind == "number":
            norm = "N"
        elif kind == "name":
            if keyword.iskeyword(text) or previous == ".":
                norm = text  # keywords and attributes (the API) stay
            elif bound is None or text in bound:
                norm = "V"
            else:
                norm = text  # free names: tf, np, range
        else:
            norm = text
        out.append(Token(norm, start, m.end()))
        previous = text
    return out


@functools.lru_cache(maxsize=8192)
def parse(source: str) -> ast.Module:
    return ast.parse(source)
