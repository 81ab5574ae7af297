"""The in-memory merge (`evaluation.deltas`) against PEFT's own: every weight bit for bit equal to
`PeftModel.from_pretrained(...).merge_and_unload()`, for LoRA (rsLoRA, bf16-stored factors, a bf16 base, GPT-2's
Conv1D), LoKr (whole and decomposed factors) and composed modules; what it cannot express goes to PEFT; a module
that does not fit leaves the weights untouched; restoring gives the weights back exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_llama

from langarith.arith.formats import get_format, load, save
from langarith.evaluation import deltas


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=32)).eval()


def peft_merged(make_model, folder) -> dict[str, torch.Tensor]:
    from peft import PeftModel

    merged = PeftModel.from_pretrained(make_model(), str(folder)).merge_and_unload()
    return {k: v.clone() for k, v in merged.state_dict().items()}


def merged_in_place(make_model, module):
    """(weights after the in-memory merge, the model restored afterwards, a fresh model)."""
    model = make_model()
    plan = deltas.plan(model, module, get_format("peft").config_of(module))
    assert plan is not None, "the in-memory merge should express this module"
    snapshot = deltas.merge(model, module, plan)
    merged = {k: v.clone() for k, v in model.state_dict().items()}
    deltas.restore(snapshot)
    return merged, model, make_model()


def assert_bitwise_equal(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert got.keys() == expected.keys()
    differ = [k for k in expected if got[k].dtype != expected[k].dtype or not torch.equal(got[k], expected[k])]
    assert differ == []


def check(make_model, module, folder) -> None:
    merged, restored, fresh = merged_in_place(make_model, module)
    assert_bitwise_equal(merged, peft_merged(make_model, folder))
    assert_bitwise_equal(restored.state_dict(), fresh.state_dict())
    assert any(not torch.equal(merged[k], v) for k, v in fresh.state_dict().items())


@pytest.mark.parametrize("options", [{}, {"use_rslora": True, "lora_alpha": 5}, {"r": 3, "lora_alpha": 7}],
                         ids=["lora", "rslora", "odd-scaling"])
def test_lora_merges_in_memory_exactly_as_peft(make_peft, options):
    folder = make_peft("m", **options)
    check(tiny_llama, load(folder), folder)


@pytest.mark.parametrize("options", [{}, {"r": 1, "decompose_both": True}], ids=["whole", "decomposed"])
def test_lokr_merges_in_memory_exactly_as_peft(make_peft, options):
    folder = make_peft("k", method="lokr", **options)
    module = load(folder)
    if options:
        assert {"lokr_w1_a", "lokr_w2_b"} <= {k.rsplit(".", 1)[-1] for k in module.tensors}
    check(tiny_llama, module, folder)


def test_composed_modules_bf16_factors_and_a_bf16_base_merge_exactly_as_peft(make_peft, tmp_path):
    a, b = load(make_peft("a", seed=1)), load(make_peft("b", seed=2, r=2, lora_alpha=3))
    composed = (0.7 * a - 0.4 * b).materialize("delta")
    assert composed.rewrite_config
    check(tiny_llama, composed, save(composed, tmp_path / "delta"))
    c = load(make_peft("c", seed=3))
    factor = (0.25 * a + 0.75 * c).materialize("factor")
    factor.stored_as = dict.fromkeys(factor.tensors, "BF16")  # written as bf16: the merge rounds as the file does
    assert not all(np.array_equal(t, t.astype(np.float16)) for t in factor.tensors.values())
    check(tiny_llama, factor, save(factor, tmp_path / "bf16"))
    check(lambda: tiny_llama().to(torch.bfloat16), a, make_peft("a2", seed=1))


def test_gpt2_conv1d_layers_merge_transposed_exactly_as_peft(tmp_path):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(5)
    peft_model = get_peft_model(tiny_gpt2(), LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"],
                                                        fan_in_fan_out=True, init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "gpt2")
    check(tiny_gpt2, load(tmp_path / "gpt2"), tmp_path / "gpt2")


@pytest.mark.parametrize("options", [{"use_dora": True}, {"rank_pattern": {"q_proj": 2}},
                                     {"modules_to_save": ["lm_head"]}, {"target_modules": ["q_proj", "embed_tokens"]}],
                         ids=["dora", "rank-pattern", "modules-to-save", "embedding"])
def test_what_the_in_memory_merge_cannot_express_goes_to_peft(make_peft, options):
    module = load(make_peft("x", **options))
    assert deltas.plan(tiny_llama(), module, module.config) is None
    assert deltas.plan(tiny_llama(), load(make_peft("z")), dict(module.config, init_lora_weights="pissa")) is None


def test_untargeted_and_uncovered_layers_go_to_peft(make_peft):
    module = load(make_peft("y"))
    fewer = dict(module.config, target_modules=["q_proj", "k_proj", "v_proj"])  # o_proj's tensors: not loaded
    assert deltas.plan(tiny_llama(), module, fewer) is None
    more = dict(module.config, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"])
    assert deltas.plan(tiny_llama(), module, more) is None  # random factors (init False) on up_proj
    assert deltas.plan(tiny_llama(), module, dict(more, init_lora_weights=True)) is not None  # zero there


def test_a_module_that_does_not_fit_names_the_tensor_and_changes_nothing(make_peft):
    from transformers import LlamaConfig, LlamaForCausalLM

    wider = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32))
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    module = load(make_peft("narrow"))
    plan = deltas.plan(wider, module, module.config)
    misfit = (r"^base_model\.model\.model\.layers\.(\d)\.self_attn\.(\w_proj)\.lora_[AB]\.weight is \(\d+, \d+\), "
              r"but layer model\.layers\.\1\.self_attn\.\2 takes \(\d+, \d+\)$")
    with pytest.raises(deltas.DoesNotFit, match=misfit):
        deltas.merge(wider, module, plan)
    assert_bitwise_equal(wider.state_dict(), before)
