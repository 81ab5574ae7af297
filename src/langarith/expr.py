"""Compose expressions such as ``0.7*task_en + 0.3*(lang_pt - lang_en)`` or ``mean(task_ar, task_sw)``.

Parsed with Python's `ast` and evaluated over a whitelist (numbers, names, + − * /, unary −,
parentheses, `mean(...)` and `sum(...)`); nothing is `eval`-ed. Results must be linear in the
modules: a module times a module, or a number added to a module, is an error.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping
from typing import Any

from langarith.algebra import ModuleVector, mean, vsum
from langarith.errors import ExpressionError
from langarith.module import Module

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_FUNCS: dict[str, Callable[[list[Any]], ModuleVector]] = {"mean": mean, "sum": vsum}


def evaluate(expression: str, modules: Mapping[str, Module | ModuleVector]) -> ModuleVector:
    """Evaluate `expression` with `modules` bound to their names; the result must be a module."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        caret = " " * max((err.offset or 1) - 1, 0) + "^"
        raise ExpressionError(
            f"syntax error in expression: {err.msg}\n  {expression.strip()}\n  {caret}\n"
            "Write arithmetic over module names and numbers, e.g. \"0.7*task_en + 0.3*(lang_pt - lang_en)\""
        ) from None
    value = _Evaluator(expression, modules).visit(tree.body)
    if not isinstance(value, ModuleVector):
        raise ExpressionError(f"expression {expression!r} is a number ({value}), not a module")
    return value


def names_in(expression: str) -> set[str]:
    """Module names an expression refers to (function names excluded)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return set()
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - called


class _Evaluator(ast.NodeVisitor):
    def __init__(self, source: str, modules: Mapping[str, Module | ModuleVector]):
        self.source = source
        self.modules = modules

    def generic_visit(self, node: ast.AST) -> Any:
        snippet = ast.get_source_segment(self.source.strip(), node) or type(node).__name__
        raise ExpressionError(
            f"unsupported syntax {snippet!r} in expression; allowed: numbers, module names, + - * /, "
            f"parentheses, and {', '.join(f'{f}(...)' for f in _FUNCS)}"
        )

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.modules:
            value = self.modules[node.id]
            return value.vector if isinstance(value, Module) else value
        close = difflib.get_close_matches(node.id, list(self.modules), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        known = ", ".join(sorted(self.modules)) or "none (pass --module NAME=DIR)"
        raise ExpressionError(f"unknown module name {node.id!r} in expression{hint} Known names: {known}")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return value
        return self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            return self.generic_visit(node)
        left, right = self.visit(node.left), self.visit(node.right)
        try:
            return op(left, right)
        except (TypeError, ZeroDivisionError) as err:
            snippet = ast.get_source_segment(self.source.strip(), node) or ""
            raise ExpressionError(f"cannot evaluate {snippet!r}: {err}") from None

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS or node.keywords:
            return self.generic_visit(node)
        args = [self.visit(a) for a in node.args]
        if not args or not all(isinstance(a, ModuleVector) for a in args):
            raise ExpressionError(f"{node.func.id}(...) takes one or more modules")
        return _FUNCS[node.func.id](args)
