"""Compose expressions such as ``0.7*task_en + 0.3*(lang_pt - lang_en)`` or ``mean(task_ar, task_sw)``.

A small tokenizer and an operator-precedence parser that evaluates as it reads, with explicit stacks instead
of recursion: numbers, module names, + − * /, unary ±, parentheses, `mean(...)` and `sum(...)`, and nothing
else — nothing is `eval`-ed, and neither 5,000 leading minus signs nor a sum of 5,000 terms exhausts
Python's recursion limit. Results must be linear in the modules: a module times a module, or a number added
to a module, is an error.
"""

from __future__ import annotations

import difflib
import itertools
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langarith.arith.algebra import ModuleVector, mean, vsum
from langarith.arith.module import Module
from langarith.core.errors import ExpressionError

_BINARY: dict[str, tuple[int, Callable[[Any, Any], Any]]] = {
    "+": (1, operator.add), "-": (1, operator.sub), "*": (2, operator.mul), "/": (2, operator.truediv),
}
_UNARY = 3  # binds tighter than any binary operator
_FUNCS: dict[str, Callable[[list[Any]], ModuleVector]] = {"mean": mean, "sum": vsum}
_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[^\W\d]\w*)"
                    r"|(?P<bad>\*\*)|(?P<op>[-+*/(),]))")
_EXAMPLE = "Write arithmetic over module names and numbers, e.g. \"0.7*task_en + 0.3*(lang_pt - lang_en)\""


@dataclass
class _Token:
    kind: str  # number | name | op | end
    text: str
    at: int


def is_name(name: str) -> bool:
    """Whether `name` can stand for a module in an expression: a Python identifier (`task_pt`, `λ·task_pt`,
    `tâche_pt`), as the parser reads one."""
    return name.isidentifier()


def canonical(name: str) -> str:
    """A name as expressions compare it: NFKC-normalised, as Python compares identifiers (`tâche` typed with a
    combining accent is `tâche`)."""
    return unicodedata.normalize("NFKC", name)


def evaluate(expression: str, modules: Mapping[str, Module | ModuleVector]) -> ModuleVector:
    """Evaluate `expression` with `modules` bound to their names; the result must be a module."""
    modules = {canonical(name): value for name, value in modules.items()}
    value = _Parser(expression.strip(), modules).run()
    if not isinstance(value, ModuleVector):
        raise ExpressionError(f"expression {expression!r} is a number ({value}), not a module")
    return value


def names_in(expression: str) -> set[str]:
    """Module names an expression refers to (function names excluded)."""
    try:
        tokens = _tokens(expression.strip())
    except ExpressionError:
        return set()
    return {canonical(t.text) for t, after in itertools.pairwise(tokens) if t.kind == "name" and after.text != "("}


def _tokens(source: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(source):
        if source[at:].strip() == "":
            break
        match = _TOKEN.match(source, at)
        if match is None or match.lastgroup == "bad":
            start = len(source) - len(source[at:].lstrip())
            snippet = source[start:start + 12]
            raise ExpressionError(f"unsupported syntax {snippet!r} in expression; allowed: numbers, module names, "
                                  f"+ - * /, parentheses, and {', '.join(f'{f}(...)' for f in _FUNCS)}")
        kind = match.lastgroup or "op"
        at = _identifier_end(source, match.end()) if kind == "name" else match.end()
        tokens.append(_Token(kind, source[match.start(kind):at], match.start(kind)))
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _identifier_end(source: str, at: int) -> int:
    """Where a name that runs to `at` ends: identifiers go on with characters `\\w` lacks (the middle dot of
    `λ·task`, combining accents)."""
    while at < len(source) and ("a" + source[at]).isidentifier():
        at += 1
    return at


class _Parser:
    """Operator precedence over a value stack and an operator stack of `(`, calls, unary ± and binary ops."""

    def __init__(self, source: str, modules: Mapping[str, Module | ModuleVector]):
        self.source, self.modules = source, modules
        self.values: list[Any] = []
        self.ops: list[tuple[str, Any]] = []  # ("(", None) | ("call", (name, first value)) | ("unary"|"binary", op)

    def run(self) -> Any:
        tokens = _tokens(self.source)
        operand, i = True, 0  # whether the next token must start an operand
        while i < len(tokens):
            token = tokens[i]
            if operand and token.kind == "name" and tokens[i + 1].text == "(":
                self._open_call(token)
                i += 2
                continue
            operand = self._operand(token) if operand else self._operator(token)
            i += 1
        if len(self.values) != 1 or self.ops:
            self._syntax("an operand is missing", len(self.source))
        return self.values[0]

    def _open_call(self, token: _Token) -> None:
        if token.text not in _FUNCS:
            raise ExpressionError(f"unsupported syntax {token.text + '(...)'!r} in expression; the functions are "
                                  f"{', '.join(f'{f}(...)' for f in _FUNCS)}")
        self.ops.append(("call", (token.text, len(self.values))))

    def _operand(self, token: _Token) -> bool:
        """Read a token where an operand must start; returns whether one still must."""
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise ExpressionError(f"the number {token.text} is too large; modules are weighted by finite numbers")
            self.values.append(value)
            return False
        if token.kind == "name":
            self.values.append(self._module(token.text))
            return False
        if token.text == "(":
            self.ops.append(("(", None))
            return True
        if token.text in "+-" and token.kind == "op":
            self.ops.append(("unary", token.text))
            return True
        if token.text == ")" and self.ops and self.ops[-1][0] == "call":
            raise ExpressionError(f"{self.ops[-1][1][0]}(...) takes one or more modules")
        self._syntax("an operand (a number, a module name or a parenthesis) is missing", token.at)
        return True

    def _operator(self, token: _Token) -> bool:
        if token.kind == "end":
            self._reduce_until(lambda kind, _: False)
            return False
        if token.text in _BINARY:
            level = _BINARY[token.text][0]
            self._reduce_until(lambda kind, op: kind in ("(", "call") or (kind == "binary" and _BINARY[op][0] < level))
            self.ops.append(("binary", token.text))
            return True
        if token.text in (")", ","):
            self._reduce_until(lambda kind, _: kind in ("(", "call"))
            if not self.ops:
                self._syntax(f"unmatched {token.text!r}" if token.text == ")" else "a comma outside mean(...) or "
                             "sum(...)", token.at)
            kind, payload = self.ops[-1]
            if token.text == "," and kind != "call":
                self._syntax("a comma outside mean(...) or sum(...)", token.at)
            if token.text == ")":
                self.ops.pop()
                if kind == "call":
                    self._call(payload)
            return token.text == ","
        self._syntax(f"{token.text!r} cannot follow an operand", token.at)
        return False  # not reached: _syntax raises

    def _reduce_until(self, stop: Callable[[str, Any], bool]) -> None:
        while self.ops and not stop(*self.ops[-1]):
            kind, op = self.ops.pop()
            if kind in ("(", "call"):
                self._syntax("an opening parenthesis is never closed", len(self.source))
            if kind == "unary":
                value = self.values.pop()
                self.values.append(-value if op == "-" else value)
            else:
                right, left = self.values.pop(), self.values.pop()
                self.values.append(self._apply(op, left, right))

    def _apply(self, op: str, left: Any, right: Any) -> Any:
        try:
            return _BINARY[op][1](left, right)
        except (TypeError, ZeroDivisionError) as err:
            raise ExpressionError(f"cannot evaluate {_shown(left)} {op} {_shown(right)}: {err}") from None

    def _call(self, payload: tuple[str, int]) -> None:
        name, first = payload
        args, self.values[first:] = self.values[first:], []
        if not args or not all(isinstance(a, ModuleVector) for a in args):
            raise ExpressionError(f"{name}(...) takes one or more modules")
        self.values.append(_FUNCS[name](args))

    def _module(self, name: str) -> ModuleVector:
        name = canonical(name)
        if name in self.modules:
            value = self.modules[name]
            return value.vector if isinstance(value, Module) else value
        close = difflib.get_close_matches(name, list(self.modules), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        known = ", ".join(sorted(self.modules)) or "none (pass --module NAME=DIR)"
        raise ExpressionError(f"unknown module name {name!r} in expression{hint} Known names: {known}")

    def _syntax(self, message: str, at: int) -> None:
        raise ExpressionError(f"syntax error in expression: {message}\n  {self.source}\n  {' ' * at}^\n{_EXAMPLE}")


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else "a module"
