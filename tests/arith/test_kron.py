"""Delta semantics on LoKr and Kronecker modules: the composition merges to the sum of the inputs' ΔW, whatever
their factor shapes, and saves as a LoKr folder PEFT loads with the in-memory merge's logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TOKENS as ROW
from conftest import saved_kronecker, tiny_llama

from langarith import apply
from langarith.arith.formats import load, save
from langarith.core.errors import SemanticsError, SharedInitWarning

TOKENS = torch.tensor([ROW])


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_delta_composition_of_kronecker_modules_and_a_lokr_merges_to_the_sum_of_their_updates(make_peft, tmp_path):
    from peft import PeftModel

    a, b = (load(saved_kronecker("4x2", tmp_path / name, seed=seed)[0]) for name, seed in (("a", 1), ("b", 2)))
    c = load(make_peft("c", seed=3, method="lokr"))  # PEFT's own LoKr, rank 4: other factor shapes
    base = weights(tiny_llama())
    one: dict[str, dict[str, torch.Tensor]] = {}
    for name, m in (("a", a), ("b", b), ("c", c)):
        one[name] = {k: v - base[k] for k, v in weights(apply(m, tiny_llama())).items()}
    composed = (0.7 * a - 0.4 * b + 0.2 * c).materialize("delta")
    got = weights(apply(composed, tiny_llama()))
    for key, w in base.items():
        expected = w + 0.7 * one["a"][key] - 0.4 * one["b"][key] + 0.2 * one["c"][key]
        torch.testing.assert_close(got[key], expected, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(got[k], base[k]) for k in base)
    folder = save(composed, tmp_path / "delta")
    with torch.no_grad():
        by_peft = PeftModel.from_pretrained(tiny_llama(), str(folder))(TOKENS).logits
        merged = apply(load(folder), tiny_llama())(TOKENS).logits
    torch.testing.assert_close(merged, by_peft, rtol=1e-5, atol=1e-5)


def test_factor_composition_of_kronecker_modules_is_element_wise_on_a_and_b(tmp_path):
    a, b = (load(saved_kronecker("4x2", tmp_path / name, seed=seed)[0]) for name, seed in (("a", 1), ("b", 2)))
    with pytest.warns(SharedInitWarning, match="not trained by langarith"):  # factors drawn here, not trained
        out = (0.5 * a + 0.5 * b).materialize("factor")
    for key, t in out.tensors.items():
        np.testing.assert_allclose(t, 0.5 * a.tensors[key] + 0.5 * b.tensors[key], rtol=1e-6)
    with torch.no_grad():
        apply(load(save(out, tmp_path / "factor")), tiny_llama())(TOKENS)


def test_delta_on_lokr_is_exact_so_a_rank_is_refused(tmp_path):
    a = load(saved_kronecker("4x2", tmp_path / "a", seed=1)[0])
    with pytest.raises(SemanticsError, match=r"LoKr modules is exact.*leave --rank out"):
        (a + a).materialize("delta", rank=2)
