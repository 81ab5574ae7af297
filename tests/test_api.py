"""The top-level Python API: every name a user needs is there, documented, and callable with keywords."""

from __future__ import annotations

import inspect

import pytest

import langarith
from langarith.training import TrainError, TrainSpec


def test_every_top_level_name_is_a_documented_function_or_class():
    names = [n for n in langarith.__all__ if n != "__version__"]
    assert {"load", "save", "compose", "add", "add_subtract", "add_related", "la", "train", "evaluate",
            "search_lambda", "related", "apply", "applied", "analyze"} <= set(names)
    for name in names:
        thing = getattr(langarith, name)
        assert inspect.isfunction(thing) or inspect.isclass(thing), name
        assert (thing.__doc__ or "").strip(), f"langarith.{name} has no docstring"


def test_recipes_take_keywords_as_their_equations_read():
    for name in ("add", "add_subtract", "la", "scaled"):
        params = inspect.signature(getattr(langarith, name)).parameters
        assert "lam" in params and params["lam"].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_train_takes_a_spec_or_its_fields(tiny_models, tmp_path, isolated_cache):
    common = dict(role="language", language="pt", text=["tatoeba:pt"], model=str(tiny_models["decoder"]), steps=2,
                  batch_size=2, seq_len=16, progress=False)
    by_fields = langarith.train(out=tmp_path / "a", **common)
    by_spec = langarith.train(TrainSpec(out=tmp_path / "b", **common))
    replaced = langarith.train(TrainSpec(out=tmp_path / "c", **common), seed=1)
    assert langarith.load(by_fields.path).tensors.keys() == langarith.load(by_spec.path).tensors.keys()
    a, b, c = (langarith.load(t.path).tensors for t in (by_fields, by_spec, replaced))
    assert all((a[k] == b[k]).all() for k in a) and any((a[k] != c[k]).any() for k in a)
    with pytest.raises(TrainError, match="no field 'step'; did you mean steps"):
        langarith.train(out=tmp_path / "d", step=3, **common)
    with pytest.raises(TrainError, match="needs out"):
        langarith.train(**common)
