from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_llama
from safetensors import safe_open

from langarith.arith.compose import compose
from langarith.arith.formats import load, save
from langarith.arith.lowrank import lora_delta
from langarith.core.errors import SemanticsError

IDS = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(0))


def logits_with(folder) -> torch.Tensor:
    from peft import PeftModel

    model = PeftModel.from_pretrained(tiny_llama(), str(folder)).eval()
    with torch.no_grad():
        return model(IDS).logits


def base_logits() -> torch.Tensor:
    with torch.no_grad():
        return tiny_llama()(IDS).logits


def test_round_trip_is_exact_and_loads_in_peft(make_peft, tmp_path):
    src = make_peft("a", r=4, lora_alpha=8)
    m = load(src)
    assert (m.kind, m.format, m.rank, m.alpha) == ("lora", "peft", 4, 8.0)
    assert m.targets == ("k_proj", "o_proj", "q_proj", "v_proj") and len(m.lora) == 8
    out = save((1.0 * m).materialize(), tmp_path / "copy", provenance={"semantics": "factor"})
    again = load(out)
    for k, t in m.tensors.items():
        np.testing.assert_array_equal(again.tensors[k], t)
    torch.testing.assert_close(logits_with(out), logits_with(src), rtol=0, atol=0)


def test_a_minus_a_gives_the_base_model(make_peft, tmp_path):
    src = make_peft("a")
    out = compose(tmp_path / "zero", expression="a - a2", modules={"a": src, "a2": src})
    assert not torch.allclose(logits_with(src), base_logits())
    torch.testing.assert_close(logits_with(out), base_logits(), rtol=1e-6, atol=1e-6)


def test_factor_composition_gives_the_logits_the_formula_predicts(make_peft, tmp_path):
    from peft import PeftModel

    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    out = compose(tmp_path / "mix", expression="0.7*a + 0.3*b", modules={"a": a, "b": b})
    # The formula, applied by hand to the factors inside a PEFT model.
    model = PeftModel.from_pretrained(tiny_llama(), str(a)).eval()
    ma, mb = load(a), load(b)
    state = {k: 0.7 * torch.from_numpy(ma.tensors[k]) + 0.3 * torch.from_numpy(mb.tensors[k]) for k in ma.tensors}
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, state)
    with torch.no_grad():
        expected = model(IDS).logits
    torch.testing.assert_close(logits_with(out), expected, rtol=1e-5, atol=1e-5)


def _peft_with(folders: dict, weights, combination, **kw):
    from peft import PeftModel

    names = list(folders)
    model = PeftModel.from_pretrained(tiny_llama(), str(folders[names[0]]), adapter_name=names[0])
    for n in names[1:]:
        model.load_adapter(str(folders[n]), adapter_name=n)
    model.add_weighted_adapter(names, list(weights), "merged", combination_type=combination, **kw)
    return model


def _peft_deltas(model, adapter: str) -> dict[str, np.ndarray]:
    from peft.tuners.lora import LoraLayer

    return {name: mod.get_delta_weight(adapter).detach().double().numpy()
            for name, mod in model.named_modules() if isinstance(mod, LoraLayer) and adapter in mod.lora_A}


def _rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.linalg.norm(ours - theirs) / max(np.linalg.norm(theirs), 1e-12))


def test_delta_equals_peft_cat_across_ranks_alphas_and_rslora(make_peft, tmp_path):
    a = make_peft("a", seed=1, r=2, lora_alpha=16)
    b = make_peft("b", seed=2, r=4, lora_alpha=4, use_rslora=True)
    out = compose(tmp_path / "cat", expression="0.7*a + 0.4*b", modules={"a": a, "b": b}, semantics="delta")
    ours = load(out)
    assert ours.rank == 6
    peft = _peft_deltas(_peft_with({"a": a, "b": b}, [0.7, 0.4], "cat"), "merged")
    assert len(peft) == len(ours.lora) == 8
    for layer in ours.lora:
        assert _rel_err(lora_delta(ours, layer), peft[layer]) < 1e-5


def test_delta_truncation_equals_peft_svd(make_peft, tmp_path):
    a = make_peft("a", seed=1, r=4, lora_alpha=8)
    b = make_peft("b", seed=2, r=3, lora_alpha=6)
    out = compose(tmp_path / "svd", expression="a - 0.5*b", modules={"a": a, "b": b}, semantics="delta", rank=3)
    ours = load(out)
    peft = _peft_deltas(_peft_with({"a": a, "b": b}, [1.0, -0.5], "svd", svd_rank=3), "merged")
    for layer in ours.lora:
        assert _rel_err(lora_delta(ours, layer), peft[layer]) < 1e-5
    # and the truncated module is a real PEFT module that predicts like PEFT's own SVD merge
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 3
    logits_with(out)


def test_peft_linear_is_not_the_papers_formula(make_peft, tmp_path):
    """Why `factor` exists: PEFT's `linear` scales each factor by sqrt(w·s), not by w."""
    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    ours = load(compose(tmp_path / "f", expression="0.7*a + 0.3*b", modules={"a": a, "b": b}))
    peft = _peft_deltas(_peft_with({"a": a, "b": b}, [0.7, 0.3], "linear"), "merged")
    layer = next(iter(ours.lora))
    assert _rel_err(lora_delta(ours, layer), peft[layer]) > 1e-2


def test_lokr_composition_reloads_in_peft(make_peft, tmp_path):
    from peft import PeftModel, set_peft_model_state_dict

    a = make_peft("a", seed=1, method="lokr", target_modules=["q_proj", "v_proj"])
    b = make_peft("b", seed=2, method="lokr", target_modules=["q_proj", "v_proj"])
    out = compose(tmp_path / "lokr", expression="0.5*a + 0.5*b", modules={"a": a, "b": b})
    m = load(out)
    assert m.kind == "lokr" and any(k.endswith("lokr_w1") for k in m.tensors)
    model = PeftModel.from_pretrained(tiny_llama(), str(a)).eval()
    ma, mb = load(a), load(b)
    mixed = {k: torch.from_numpy(0.5 * ma.tensors[k] + 0.5 * mb.tensors[k]) for k in ma.tensors}
    set_peft_model_state_dict(model, mixed)
    with torch.no_grad():
        expected = model(IDS).logits
    torch.testing.assert_close(logits_with(out), expected, rtol=1e-5, atol=1e-5)
    delta = compose(tmp_path / "x", expression="a + b", modules={"a": a, "b": b}, semantics="delta")
    from langarith import apply  # the exact sum, a whole-w2 LoKr PEFT loads: its logits are the in-memory merge's

    with torch.no_grad():
        torch.testing.assert_close(logits_with(delta), apply(load(delta), tiny_llama())(IDS).logits, rtol=1e-5,
                                   atol=1e-5)


def test_bf16_modules_stay_bf16_and_bin_files_read_weights_only(tmp_path):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama().to(torch.bfloat16),
                           LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False),
                           autocast_adapter_dtype=False)
    model.save_pretrained(tmp_path / "st")
    model.save_pretrained(tmp_path / "bin", safe_serialization=False)
    st, bn = load(tmp_path / "st"), load(tmp_path / "bin")
    assert set(st.stored_as.values()) == {"BF16"}
    for k in st.tensors:
        np.testing.assert_array_equal(st.tensors[k], bn.tensors[k])
    out = compose(tmp_path / "out", expression="1*a", modules={"a": tmp_path / "bin"})
    with safe_open(out / "adapter_model.safetensors", "pt") as f:
        for k in f.keys():  # noqa: SIM118
            t = f.get_tensor(k)
            assert t.dtype == torch.bfloat16
            np.testing.assert_array_equal(t.float().numpy(), st.tensors[k])


def test_dora_is_refused_and_lora_bias_has_no_delta(make_peft, tmp_path):
    a = make_peft("a", use_dora=True)
    with pytest.raises(SemanticsError, match="DoRA"):
        compose(tmp_path / "x", expression="0.5*a", modules={"a": a})
    b = make_peft("b", lora_bias=True)
    with pytest.raises(SemanticsError, match="LoRA biases"):
        compose(tmp_path / "y", expression="0.5*b", modules={"b": b}, semantics="delta")
    compose(tmp_path / "z", expression="0.5*b", modules={"b": b})  # factor is fine


def test_provenance_in_manifest_card_and_metadata(make_peft, tmp_path):
    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    out = compose(tmp_path / "p", expression="0.7*a + 0.3*b", modules={"a": a, "b": b})
    manifest = json.loads((out / "langarith.json").read_text())
    prov = manifest["provenance"]
    assert prov["expression"] == "0.7*a + 0.3*b" and prov["semantics"] == "factor"
    assert prov["weights"] == {"a": 0.7, "b": 0.3}
    assert [i["path"] for i in prov["inputs"]] == [str(a), str(b)]
    assert all(len(i["sha256"]) == 64 for i in prov["inputs"]) and prov["langarith_version"]
    assert "0.7*a + 0.3*b" in (out / "README.md").read_text()
    with safe_open(out / "adapter_model.safetensors", "np") as f:
        assert json.loads(f.metadata()["langarith"])["expression"] == "0.7*a + 0.3*b"
