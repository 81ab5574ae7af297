from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_bert

from langarith.arith.compose import compose
from langarith.arith.formats import load
from langarith.arith.lowrank import lora_delta
from langarith.core.errors import IncompatibleModulesError

IDS = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(0))


def _outputs(model, adapter: str) -> torch.Tensor:
    model.set_active_adapters(adapter)
    with torch.no_grad():
        return model(IDS).last_hidden_state if hasattr(model(IDS), "last_hidden_state") else model(IDS)[0]


def _adapter_params(model, adapter: str) -> dict[str, np.ndarray]:
    return {k.replace(f".{adapter}.", ".{adapter}."): v.detach().numpy()
            for k, v in model.state_dict().items() if f".{adapter}." in k}


@pytest.mark.parametrize("config", ["seq_bn", "seq_bn_inv"])
def test_linear_equals_adapterhub_average_adapter_without_normalisation(make_adapter, tmp_path, config):
    a, b = make_adapter("lang_en", config, seed=1), make_adapter("lang_es", config, seed=2)
    out = compose(tmp_path / "la", expression="0.7*a + 0.3*b", modules={"a": a, "b": b}, adapter_name="la")
    model = tiny_bert()
    model.load_adapter(str(a), use_safetensors=True)
    model.load_adapter(str(b), use_safetensors=True)
    model.average_adapter("avg", ["lang_en", "lang_es"], weights=[0.7, 0.3], combine_strategy="linear",
                          normalize_weights=False)
    theirs = _adapter_params(model, "avg")
    ours = load(out).tensors
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-6, atol=1e-7, err_msg=k)
    # AdapterHub's average skips invertible layers; LA on language adapters needs them averaged too.
    invertible = sorted(set(ours) - set(theirs))
    assert bool(invertible) == (config == "seq_bn_inv")
    ma, mb = load(a), load(b)
    for k in invertible:
        np.testing.assert_allclose(ours[k], 0.7 * ma.tensors[k] + 0.3 * mb.tensors[k], rtol=1e-6, atol=1e-7,
                                   err_msg=k)
    # The written folder loads unchanged in AdapterHub, with exactly our weights.
    assert model.load_adapter(str(out), use_safetensors=True) == "la"
    loaded = _adapter_params(model, "la")
    assert set(loaded) == set(ours)
    for k, v in loaded.items():
        np.testing.assert_array_equal(v, ours[k])
    if config == "seq_bn":
        torch.testing.assert_close(_outputs(model, "la"), _outputs(model, "avg"), rtol=1e-5, atol=1e-5)


def test_adapterhub_default_normalisation_differs(make_adapter, tmp_path):
    """The pitfall: average_adapter normalises weights unless told not to."""
    a, b = make_adapter("x", seed=1), make_adapter("y", seed=2)
    ours = load(compose(tmp_path / "s", expression="a + b", modules={"a": a, "b": b})).tensors
    model = tiny_bert()
    model.load_adapter(str(a), use_safetensors=True)
    model.load_adapter(str(b), use_safetensors=True)
    model.average_adapter("avg", ["x", "y"], weights=[1.0, 1.0])
    theirs = _adapter_params(model, "avg")
    k = next(iter(ours))
    np.testing.assert_allclose(ours[k], 2 * theirs[k], rtol=1e-5)


def test_pickled_inputs_give_pickled_output_that_default_load_adapter_reads(make_adapter, tmp_path):
    a = make_adapter("a", seed=1, safetensors=False)
    b = make_adapter("b", seed=2, safetensors=False)
    out = compose(tmp_path / "mix", expression="0.5*a + 0.5*b", modules={"a": a, "b": b}, adapter_name="mix")
    assert (out / "pytorch_adapter.bin").exists() and not (out / "adapter.safetensors").exists()  # written once
    model = tiny_bert()
    name = model.load_adapter(str(out))  # AdapterHub defaults: reads the .bin
    assert name == "mix"
    mine = load(out).tensors
    for k, v in _adapter_params(model, "mix").items():
        np.testing.assert_array_equal(v, mine[k])


def test_safetensors_inputs_stay_torch_free(make_adapter, tmp_path):
    a = make_adapter("a", seed=1)
    out = compose(tmp_path / "o", expression="2*a", modules={"a": a})
    assert not (out / "pytorch_adapter.bin").exists() and (out / "adapter.safetensors").exists()


def test_heads_are_carried_not_scaled_and_conflicts_are_explained(make_adapter, tmp_path):
    task = make_adapter("task_en", seed=1, head=True)
    lang = make_adapter("lang_pt", seed=2)
    lang_en = make_adapter("lang_en", seed=3)
    out = compose(tmp_path / "t", expression="0.7*t + 0.3*(p - e)", modules={"t": task, "p": lang, "e": lang_en},
                  adapter_name="task_pt")
    assert (out / "head_config.json").exists()
    src, res = load(task), load(out)
    for k, v in src.extras.items():
        np.testing.assert_array_equal(res.extras[k], v)
    model = tiny_bert()
    assert model.load_adapter(str(out), use_safetensors=True) == "task_pt"
    assert "task_pt" in model.heads
    other = make_adapter("task_de", seed=4, head=True)
    with pytest.raises(IncompatibleModulesError, match="full weight"):
        compose(tmp_path / "x", expression="t + d", modules={"t": task, "d": other})
    averaged = compose(tmp_path / "y", expression="0.5*t + 0.5*d", modules={"t": task, "d": other}, extras="mean")
    key = next(iter(src.extras))
    np.testing.assert_allclose(load(averaged).extras[key], (src.extras[key] + load(other).extras[key]) / 2,
                               rtol=1e-6)


def test_adapterhub_lora_delta_is_exact_and_reloads(make_adapter, tmp_path):
    a, b = make_adapter("a", "lora", seed=1), make_adapter("b", "lora", seed=2)
    out = compose(tmp_path / "d", expression="a - 0.5*b", modules={"a": a, "b": b}, semantics="delta")
    ma, mb, res = load(a), load(b), load(out)
    assert res.rank == 2 * ma.rank
    for layer in res.lora:
        np.testing.assert_allclose(lora_delta(res, layer), lora_delta(ma, layer) - 0.5 * lora_delta(mb, layer),
                                   rtol=1e-5, atol=1e-6)
    model = tiny_bert()
    model.load_adapter(str(out), use_safetensors=True)


def test_mismatched_configs_are_refused(make_adapter, tmp_path):
    a = make_adapter("a", "seq_bn", seed=1)
    b = make_adapter("b", "seq_bn_inv", seed=2)
    with pytest.raises(IncompatibleModulesError, match="different targets"):
        compose(tmp_path / "x", expression="a + b", modules={"a": a, "b": b})
