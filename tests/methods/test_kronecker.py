"""Paper 1's Kronecker adapter: A of the given shape, B whole, trained through PEFT's LoKr layers and saved as a
LoKr folder; a square A is a folder PEFT loads unchanged, any A merges in memory as the trained model computes."""

from __future__ import annotations

import pytest
import torch
from conftest import TOKENS as ROW
from conftest import kronecker_model, saved_kronecker, tiny_llama

from langarith import apply
from langarith.arith.formats import load
from langarith.methods import MethodError, get_method

TOKENS = torch.tensor([ROW])


def test_a_has_the_given_shape_and_b_is_whole_on_every_layer():
    method, model = kronecker_model("4x2")
    shapes = {name.split(".")[-3] + "." + name.split(".")[-2]: tuple(p.shape)
              for name, p in method.trainable(model).items() if ".layers.0." in name}
    # tiny Llama: q, o 16 × 16; k, v 8 × 16 (out × in)
    assert shapes == {"q_proj.lokr_w1": (4, 2), "q_proj.lokr_w2": (4, 8), "k_proj.lokr_w1": (4, 2),
                      "k_proj.lokr_w2": (2, 8), "v_proj.lokr_w1": (4, 2), "v_proj.lokr_w2": (2, 8),
                      "o_proj.lokr_w1": (4, 2), "o_proj.lokr_w2": (4, 8)}
    assert get_method("kronecker").options({})["shape"] == [32, 16]  # paper 1's


def test_a_shape_that_does_not_divide_a_layer_or_is_no_shape_is_a_one_line_error():
    method = get_method("kronecker")
    with pytest.raises(MethodError, match=r"^kronecker shape 16×2 does not divide layer model\.layers\.0\.self_attn"
                                          r"\.k_proj \(8×16, out × in\)"):
        method.attach(tiny_llama(), method.options({"shape": [16, 2]}), "decoder")
    for bad in ("3", [1, 2, 3], [0, 2], "ax2", [True, 2], 4):
        with pytest.raises(MethodError, match=r"two whole numbers"):
            method.options({"shape": bad})
    with pytest.raises(MethodError, match=r"scale must be a positive"):
        method.options({"scale": 0})


def test_a_square_shape_is_a_folder_peft_loads_unchanged_with_the_in_memory_merge_s_logits(tmp_path):
    from peft import PeftModel

    folder, trained = saved_kronecker([2, 2], tmp_path / "k", scale=0.5)
    module = load(folder)
    assert module.kind == "lokr" and module.config["decompose_factor"] == 2
    with torch.no_grad():
        by_peft = PeftModel.from_pretrained(tiny_llama(), str(folder))(TOKENS).logits
        merged = apply(module, tiny_llama())(TOKENS).logits
    assert not torch.allclose(by_peft, tiny_llama()(TOKENS).logits, atol=1e-4)
    torch.testing.assert_close(by_peft, trained, rtol=0, atol=0)
    torch.testing.assert_close(merged, by_peft, rtol=1e-5, atol=1e-5)


def test_any_shape_merges_in_memory_as_the_trained_model_computes(tmp_path):
    folder, trained = saved_kronecker("4x2", tmp_path / "k")
    module = load(folder)
    assert {t.shape for k, t in module.tensors.items() if k.endswith("q_proj.lokr_w1")} == {(4, 2)}
    with torch.no_grad():
        merged = apply(module, tiny_llama())(TOKENS).logits
    torch.testing.assert_close(merged, trained, rtol=1e-5, atol=1e-5)


def test_a_kronecker_module_trains_and_its_start_is_shared(tmp_path, isolated_cache):
    from conftest import phrase_tatoeba

    from langarith.training import TrainSpec, train

    def run(seed: int, out: str):
        return train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"], data=phrase_tatoeba(tmp_path),
                               model="tiny", method="kronecker", method_options={"shape": [8, 4]}, out=tmp_path / out,
                               steps=3, lr=2e-2, batch_size=2, seq_len=16, seed=seed, progress=False)).path

    first, second = load(run(0, "a")), load(run(1, "b"))
    assert first.init_fingerprint == second.init_fingerprint  # the data seed differs, the start does not
    w1 = next(t for k, t in first.tensors.items() if k.endswith("k_proj.lokr_w1"))
    assert w1.shape == (8, 4) and abs(w1).max() > 0  # A moved away from its zero start
