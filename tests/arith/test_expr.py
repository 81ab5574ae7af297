from __future__ import annotations

import math

import pytest
from conftest import synthetic_lora
from hypothesis import given, settings
from hypothesis import strategies as st

from langarith.arith.algebra import ModuleVector
from langarith.arith.expr import evaluate, names_in
from langarith.core.errors import ExpressionError


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


FUZZ_MODULES = {n: synthetic_lora(i, label=n) for i, n in enumerate(["a", "b", "task_en"])}
TOKENS = ["a", "b", "task_en", "c", "mean", "sum", "(", ")", ",", "+", "-", "*", "/", "**", "0.5", "2", "1e400",
          "0", ".", "'", " ", "__import__", "1e", "x.y"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join) | st.text(max_size=40))
def test_any_text_is_a_module_or_a_clean_error(text):
    """Fuzz: an expression evaluates to a module vector or raises ExpressionError, never another exception."""
    try:
        result = evaluate(text, FUZZ_MODULES)
    except ExpressionError:
        return
    assert isinstance(result, ModuleVector) and all(math.isfinite(w) for w in result.weights().values())


def test_any_python_identifier_is_a_name_and_spellings_of_one_name_meet(tmp_path):
    import unicodedata

    from langarith.arith.compose import compose
    from langarith.arith.formats import save

    mods = {n: synthetic_lora(i, label=n) for i, n in enumerate(["λ·task_pt", "tâche_pt"])}
    decomposed = unicodedata.normalize("NFD", "tâche_pt")  # the same name typed with a combining accent
    v = evaluate(f"0.5*λ·task_pt + {decomposed}", mods)
    assert v.weights() == pytest.approx({"λ·task_pt": 0.5, "tâche_pt": 1.0})
    assert names_in(f"λ·task_pt - {decomposed}") == {"λ·task_pt", "tâche_pt"}
    with pytest.raises(ExpressionError, match="unsupported syntax"):
        evaluate("λ·task_pt.x", mods)
    folder = save(synthetic_lora(1).vector.materialize(), tmp_path / "m", provenance={})
    with pytest.raises(ExpressionError, match=r"'a-b' cannot be used in an expression.*'a_b'"):
        compose(tmp_path / "out", expression="a", modules={"a-b": folder})  # the Python API refuses as the CLI does
    assert compose(tmp_path / "ok", expression="2*tâche", modules={"tâche": folder}).exists()
