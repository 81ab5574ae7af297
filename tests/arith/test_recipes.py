from __future__ import annotations

import math

import pytest
from conftest import synthetic_lora

from langarith.arith.recipes import (
    RECIPES,
    RecipeInputs,
    add,
    add_subtract,
    add_subtract_related,
    add_weighted,
    la,
    softmax_weights,
)
from langarith.core.errors import RecipeError


@pytest.fixture
def langs():
    task = {c: synthetic_lora(i, label=f"task_{c}") for i, c in enumerate(["en", "ar", "sw", "ru"])}
    lang = {c: synthetic_lora(10 + i, label=f"lang_{c}") for i, c in enumerate(["en", "ar", "sw", "ru", "pt"])}
    return task, lang


def run(name, **kw):
    return RECIPES[name].run(RecipeInputs(**kw))


def test_equations(langs):
    task, lang = langs
    assert add(task=task["en"], target=lang["pt"], lam=0.7).weights() == pytest.approx({"task_en": 0.7, "lang_pt": 0.3})
    assert add_subtract(task=task["en"], target=lang["pt"], source=lang["en"], lam=0.7).weights() == pytest.approx(
        {"task_en": 0.7, "lang_pt": 0.3, "lang_en": -0.3})
    eq4 = add_subtract_related(task=task, lang=lang, target="pt", related=["ar", "sw"], lam=0.6).weights()
    assert eq4 == pytest.approx({"task_ar": 0.3, "task_sw": 0.3, "lang_pt": 0.4, "lang_ar": -0.2, "lang_sw": -0.2})
    assert la(lang["en"], lang["pt"], lam=0.25).weights() == pytest.approx({"lang_en": 0.25, "lang_pt": 0.75})


def test_arguments_cannot_be_swapped_silently(langs):
    task, lang = langs
    t, en, pt = task["en"], lang["en"], lang["pt"]
    t.role, en.role, pt.role = "task", "language", "language"
    with pytest.raises(TypeError):
        add_subtract(t, pt, en, 0.7)  # keyword-only: no positional order to get wrong
    with pytest.raises(RecipeError, match=r"add-subtract: task= should be a task module, but lang_pt is a language"):
        add_subtract(task=pt, target=t, source=en, lam=0.7)
    with pytest.raises(RecipeError, match=r"the module given as language for pt should be a language module"):
        run("add", task={"en": t}, lang={"en": en, "pt": t}, lam=0.5, target="pt")


def test_registry_resolves_source_and_target(langs):
    task, lang = langs
    one_task = {"en": task["en"]}
    v = run("add-subtract", task=one_task, lang={"en": lang["en"], "pt": lang["pt"]}, lam=0.9)
    assert v.weights() == pytest.approx({"task_en": 0.9, "lang_pt": 0.1, "lang_en": -0.1})
    assert run("add-all", task=task).weights() == pytest.approx({f"task_{c}": 0.25 for c in task})
    assert run("add-related", task=task, related=["ar", "ru"]).weights() == pytest.approx(
        {"task_ar": 0.5, "task_ru": 0.5})
    assert run("la", lang={"en": lang["en"], "sw": lang["sw"]}, lam=0.5).weights() == pytest.approx(
        {"lang_en": 0.5, "lang_sw": 0.5})


@pytest.mark.parametrize("lam", [-0.1, 1.5])
@pytest.mark.parametrize("name", ["add", "add-subtract", "la"])
def test_lambda_outside_unit_interval_is_refused(langs, name, lam):
    task, lang = langs
    with pytest.raises(RecipeError, match=r"λ in \[0, 1\]"):
        tasks = {} if name == "la" else {"en": task["en"]}
        run(name, task=tasks, lang={"en": lang["en"], "pt": lang["pt"]}, lam=lam, target="pt")


def test_missing_inputs_say_which_flag_to_pass(langs):
    task, lang = langs
    with pytest.raises(RecipeError, match=r"needs --lambda"):
        run("add", task={"en": task["en"]}, lang={"pt": lang["pt"]})
    with pytest.raises(RecipeError, match=r"pass --source"):
        run("add", task=task, lang={"pt": lang["pt"]}, lam=0.5)
    with pytest.raises(RecipeError, match=r"pass --target"):
        run("add", task={"en": task["en"]}, lang={"pt": lang["pt"], "sw": lang["sw"]}, lam=0.5)
    with pytest.raises(RecipeError, match=r"no language module for language 'en'.*--lang-module en=DIR"):
        run("add-subtract", task={"en": task["en"]}, lang={"pt": lang["pt"]}, lam=0.5)
    with pytest.raises(RecipeError, match=r"needs --target .* or an explicit --related"):
        run("add-related", task=task)
    with pytest.raises(RecipeError, match=r"exactly two"):
        run("la", lang=lang, lam=0.5)


def test_related_defaults_to_the_papers_rule_and_codes_match_across_spellings(langs):
    task, lang = langs
    x = RecipeInputs(task={"en": task["en"], "ar": task["ar"], "sw": task["sw"], "ru": task["ru"]}, target="uk")
    v = RECIPES["add-related"].run(x)
    assert x.related and "ru" in x.related  # Ukrainian: Russian is syntactically and geographically close
    assert set(v.weights()) == {f"task_{c}" for c in x.related}
    flores = {"por_Latn": lang["pt"], "eng_Latn": lang["en"]}
    v = RECIPES["add-subtract"].run(RecipeInputs(task={"en": task["en"]}, lang=flores, target="pt", lam=0.5))
    assert v.weights() == pytest.approx({"task_en": 0.5, "lang_pt": 0.5, "lang_en": -0.5})


def test_add_weighted_is_the_softmax_of_minus_distance_over_tau(langs):
    task, _ = langs
    distance = {"ar": 0.2, "sw": 0.4, "ru": 0.6}
    tau = 0.2
    z = sum(math.exp(-d / tau) for d in distance.values())
    expected = {f"task_{c}": math.exp(-d / tau) / z for c, d in distance.items()}
    assert add_weighted(task, distance, tau=tau).weights() == pytest.approx(expected)
    assert add_weighted(task, distance, tau=1e3).weights() == pytest.approx({k: 1 / 3 for k in expected}, abs=1e-3)
    assert softmax_weights(distance, 1e-3) == pytest.approx({"ar": 1.0, "sw": 0.0, "ru": 0.0})  # the nearest alone
    with pytest.raises(RecipeError, match=r"temperature τ > 0, got 0"):
        softmax_weights(distance, 0)


def test_the_add_weighted_recipe_weights_by_distance_to_the_target(langs):
    task, _ = langs
    x = RecipeInputs(task={c: task[c] for c in ("en", "ar", "ru")}, target="uk", params={"tau": 0.05})
    weights = RECIPES["add-weighted"].run(x).weights()
    assert max(weights, key=weights.get) == "task_ru" and x.applied == pytest.approx(list(weights.values()))
    with pytest.raises(RecipeError, match="add-weighted needs --target"):
        run("add-weighted", task=task)
