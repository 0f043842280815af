"""The value a notebook assigns to an answer name, read with ast (nothing is executed)."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass

from course.similarity.lexing import parse


class NotConstant(Exception):
    pass


class Unanswered(Exception):
    pass


_CASTS = {"list", "tuple", "int", "float", "str", "np.array", "numpy.array", "np.asarray"}


def _constant(node):
    """The value of a constant expression: literals, lists, arithmetic on numbers and the
    casts a student wraps them in (``np.array([...])``). Raises NotConstant otherwise."""
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise Unanswered
        return node.value
    if isinstance(node, ast.Tuple | ast.List):
        return [_constant(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _constant(node.operand)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _constant(node.left), _constant(node.right)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if numbers:
            try:
                if isinstance(node.op, ast.Pow):
                    if abs(right) > 64 or abs(left) > 1e6:
                        raise NotConstant
                    return left**right
                op = {
                    ast.Add: float.__add__,
                    ast.Sub: float.__sub__,
                    ast.Mult: float.__mul__,
                    ast.Div: float.__truediv__,
                    ast.FloorDiv: float.__floordiv__,
                    ast.Mod: float.__mod__,
                }.get(type(node.op))
                if op is not None:
                    value = op(float(left), float(right))
                    both_int = isinstance(left, int) and isinstance(right, int)
                    if both_int and not isinstance(node.op, ast.Div):
                        return int(value) if abs(value) < 2**53 else value
                    return value
            except (ArithmeticError, ValueError, OverflowError):
                pass
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        if ast.unparse(node.func) in _CASTS:
            value = _constant(node.args[0])
            name = ast.unparse(node.func)
            try:
                if name in ("int", "float", "str"):
                    return {"int": int, "float": float, "str": str}[name](value)
            except (TypeError, ValueError) as error:
                raise NotConstant from error
            return value
    raise NotConstant


def _canonical(value):
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, float):
        return round(value, 10)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return repr(value)


def _show(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


@dataclass(frozen=True)
class Answer:
    key: str  # compared: the canonical value, or the normalised expression
    shown: str  # for a person
    constant: bool  # a value, not an expression of the notebook's names
    is_text: bool = False  # a string value: a choice among options


def answer_of(node: ast.AST) -> Answer | None:
    """The answer an assignment's value gives; None if it is the template's `...`."""
    try:
        value = _constant(node)
    except Unanswered:
        return None
    except (NotConstant, RecursionError):
        text = ast.unparse(node)
        if "..." in text or "Ellipsis" in text:
            return None
        return Answer("expr:" + text, text if len(text) <= 80 else text[:77] + "...", False)
    return answer_of_value(value)


def answer_of_value(value) -> Answer:
    """The answer a constant gives: written in the source (answer_of), or a value the
    grader judged (course.item_analysis.judged_answers)."""
    canonical = _canonical(value)
    shown = _show(canonical)
    return Answer(
        json.dumps(canonical, sort_keys=True),
        shown if len(shown) <= 80 else shown[:77] + "...",
        True,
        isinstance(canonical, str),
    )


def assignments(source: str) -> dict[str, ast.AST]:
    """name -> value node of the cell's top-level assignments (the last one wins)."""
    tree = parse(source)
    out = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                out[target.id] = value
            elif isinstance(target, ast.Tuple | ast.List):
                if isinstance(value, ast.Tuple | ast.List) and len(target.elts) == len(value.elts):
                    for t, v in zip(target.elts, value.elts, strict=True):
                        if isinstance(t, ast.Name):
                            out[t.id] = v
    return out
