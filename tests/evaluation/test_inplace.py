"""`apply` / `applied`: a module added into a loaded transformers model's weights, restored exactly after."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_llama

import langarith
from langarith.evaluation import EvaluationError


def test_applied_changes_the_weights_and_restores_them_exactly(make_peft):
    module = langarith.load(make_peft("task", seed=3))
    model = tiny_llama()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        plain = model(ids).logits
        with langarith.applied(module, model):
            changed = model(ids).logits
            assert not torch.equal(model.model.layers[0].self_attn.q_proj.weight, before[
                "model.layers.0.self_attn.q_proj.weight"])
        assert torch.equal(model(ids).logits, plain) and not torch.equal(changed, plain)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with torch.no_grad():  # apply keeps it, and a composition is materialised factor-wise first
        assert torch.equal(langarith.apply(1.0 * module, model)(ids).logits, changed)


def test_apply_refuses_what_it_cannot_add_in_memory(make_peft, make_adapter):
    from peft import LoraConfig, get_peft_model

    module = langarith.load(make_peft("task"))
    wrapped = get_peft_model(tiny_llama(), LoraConfig(r=2, target_modules=["q_proj"]))
    with pytest.raises(EvaluationError, match="already wraps its layers"):
        langarith.apply(module, wrapped)
    with pytest.raises(EvaluationError, match="cannot be added"):
        langarith.apply(langarith.load(make_adapter("bottleneck")), tiny_llama())
