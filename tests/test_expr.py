from __future__ import annotations

import pytest
from conftest import synthetic_lora

from langarith.errors import ExpressionError
from langarith.expr import evaluate, names_in


@pytest.fixture
def mods():
    return {n: synthetic_lora(i, label=n) for i, n in enumerate(["task_en", "lang_pt", "lang_en"])}


def test_the_papers_expression(mods):
    v = evaluate("0.7*task_en + 0.3*(lang_pt - lang_en)", mods)
    assert v.weights() == pytest.approx({"task_en": 0.7, "lang_pt": 0.3, "lang_en": -0.3})


def test_functions_division_and_unary(mods):
    assert evaluate("mean(task_en, lang_pt)", mods).weights() == pytest.approx({"task_en": 0.5, "lang_pt": 0.5})
    assert evaluate("sum(task_en, lang_pt)/4", mods).weights() == pytest.approx({"task_en": 0.25, "lang_pt": 0.25})
    assert evaluate("-(1 - 0.25)*task_en", mods).weights() == pytest.approx({"task_en": -0.75})
    assert names_in("mean(task_en, lang_pt) - 2*lang_en") == {"task_en", "lang_pt", "lang_en"}


def test_syntax_errors_point_at_the_problem(mods):
    with pytest.raises(ExpressionError, match=r"syntax error.*\n.*0\.7\*task_en \+\n"):
        evaluate("0.7*task_en +", mods)


def test_unknown_names_suggest_close_matches(mods):
    with pytest.raises(ExpressionError, match=r"unknown module name 'lang_p'.*did you mean lang_pt"):
        evaluate("task_en + lang_p", mods)


@pytest.mark.parametrize("expr, message", [
    ("task_en * lang_pt", "multiplied by numbers"),
    ("task_en + 1", "modules add to modules"),
    ("task_en ** 2", "unsupported syntax"),
    ("__import__('os')", "unsupported syntax"),
    ("task_en.tensors", "unsupported syntax"),
    ("0.5", "is a number"),
    ("task_en / 0", "division"),
    ("mean(1, 2)", "takes one or more modules"),
])
def test_non_linear_or_unsafe_expressions_are_refused(mods, expr, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(expr, mods)
