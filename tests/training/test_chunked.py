"""The chunked cross-entropy through the output layer against the full logits it replaces: the loss and every
trained gradient, fp32 to rounding and bf16 autocast to bf16's tolerance, for the prefix-LM, masked-LM and
label-only objectives on the tiny models, and a short training's loss curve."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import vocabulary

from langarith import models
from langarith.methods import get_method
from langarith.training import TrainSpec, chunked, train
from langarith.training.data import collate_task
from langarith.training.objectives import mlm_loss, prefix_lm_loss, task_loss

#: (rtol, atol) of a chunked result against the full logits' one: fp32 differs by summation order only
TOLERANCE = {"fp32": (1e-5, 1e-7), "bf16": (2e-2, 2e-3)}


def logits_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The objectives as they were before the chunked loss: every output layer taken as not plain."""
    monkeypatch.setattr(chunked, "plain_output_layer", lambda model: None)


def counted(monkeypatch: pytest.MonkeyPatch, rows: int) -> list[int]:
    """Make `linear_cross_entropy` use chunks of `rows` rows and count its calls (so that a test cannot pass by
    falling back to the logits)."""
    calls: list[int] = []
    original = chunked.linear_cross_entropy

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **{**kwargs, "chunk_rows": rows})

    monkeypatch.setattr(chunked, "linear_cross_entropy", spy)
    return calls


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("rows", [1, 5, 1000])
def test_linear_cross_entropy_equals_cross_entropy_of_the_logits(precision, bias, rows):
    torch.manual_seed(0)
    layer = torch.nn.Linear(24, 131, bias=bias)
    hidden = torch.randn(23, 24, requires_grad=True)
    targets = torch.randint(131, (23,))
    targets[[2, 11, 12]] = -100

    def loss_and_grads(fn):
        layer.zero_grad(set_to_none=True)
        hidden.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = fn()
        loss.backward()
        return [loss.detach(), hidden.grad, layer.weight.grad] + ([layer.bias.grad] if bias else [])

    full = loss_and_grads(lambda: F.cross_entropy(layer(hidden).float(), targets))
    ours = loss_and_grads(lambda: chunked.linear_cross_entropy(hidden, layer, targets, chunk_rows=rows))
    rtol, atol = TOLERANCE[precision]
    for a, b in zip(full, ours, strict=True):
        torch.testing.assert_close(b, a, rtol=rtol, atol=atol)
    assert ours[1].dtype == torch.float32 and ours[1][[2, 11, 12]].abs().max() == 0  # ignored rows: no gradient
    with torch.no_grad():  # no gradient wanted: the loss alone
        torch.testing.assert_close(chunked.linear_cross_entropy(hidden, layer, targets, chunk_rows=rows), full[0],
                                   rtol=1e-5, atol=1e-6)


def _decoder(tiny_models, method="lora"):
    info = models.resolve(str(tiny_models["decoder"]))
    model, _ = models.load(info)
    m = get_method(method)
    model = m.attach(model, m.options({}), "decoder")
    _randomise(m.trainable(model))
    return model.train(), models.load_tokenizer(info)


def _randomise(params) -> None:
    """Non-zero trainable weights (a fresh LoRA B or adapter up-projection is zero), seeded."""
    torch.manual_seed(3)
    with torch.no_grad():
        for p in params.values():
            p.copy_(torch.randn_like(p) * 0.2)


def _loss_and_grads(model, precision, loss_fn):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)  # the same dropout
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = loss_fn()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def _compare(monkeypatch, model, precision, loss_fn, rows=3):
    calls = counted(monkeypatch, rows)
    ours = _loss_and_grads(model, precision, loss_fn)
    assert calls, "the chunked loss was not used"
    monkeypatch.undo()
    logits_path(monkeypatch)
    full = _loss_and_grads(model, precision, loss_fn)
    rtol, atol = TOLERANCE[precision]
    torch.testing.assert_close(ours[0], full[0], rtol=rtol, atol=atol)
    assert ours[1].keys() == full[1].keys() and ours[1]
    for name in full[1]:
        torch.testing.assert_close(ours[1][name], full[1][name], rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("method", ["lora", "full", "pre-hook"])
def test_prefix_lm_loss_chunked_equals_the_logits_path(tiny_models, monkeypatch, precision, method):
    """LoRA (output layer frozen), full fine-tuning (the output layer, tied to the embeddings, trained), and a
    pre-hook on the output layer (as AdapterHub inverts invertible adapters there), which must still run."""
    model, _ = _decoder(tiny_models, "lora" if method == "pre-hook" else method)
    if method == "pre-hook":
        model.get_output_embeddings().register_forward_pre_hook(lambda layer, args: (args[0] * 1.5 + 0.1,))
    ids = torch.randint(5, vocabulary(model), (3, 20), generator=torch.Generator().manual_seed(1))
    _compare(monkeypatch, model, precision, lambda: prefix_lm_loss(model, ids, 7))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_label_only_task_loss_chunked_equals_the_logits_path(tiny_models, monkeypatch, precision):
    model, tok = _decoder(tiny_models)
    pairs = [([1, 9, 14, 30], [40, 41]), ([1, 22, 7], [50]), ([1, 5, 6, 7, 8, 9], [60, 61, 62])]
    batch = collate_task(pairs, tok.pad_token_id)
    _compare(monkeypatch, model, precision, lambda: task_loss(model, batch))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_masked_lm_loss_chunked_equals_the_logits_path_through_invertible_adapters(tiny_models, monkeypatch,
                                                                                    precision):
    """MAD-X's language adapter (invertible adapters on the embeddings); the MLM head's bias trained, as the
    shared MLM head trains it."""
    info = models.resolve(str(tiny_models["encoder"]))
    model, _ = models.load(info)
    method = get_method("bottleneck")
    model = method.attach(model, method.options({"config": "seq_bn_inv", "reduction_factor": 2}), "encoder")
    _randomise(method.trainable(model))
    model.cls.predictions.bias.requires_grad = True
    tok = models.load_tokenizer(info)
    ids = torch.randint(5, vocabulary(model), (4, 24), generator=torch.Generator().manual_seed(2))
    _compare(monkeypatch, model.train(), precision,
             lambda: mlm_loss(model, ids, tok, torch.Generator().manual_seed(4)))


def test_an_output_layer_that_is_not_plain_takes_the_logits():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    small = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=1, head_dim=8)
    assert chunked.plain_output_layer(Gemma3ForCausalLM(Gemma3TextConfig(**small))) is not None
    capped = Gemma3ForCausalLM(Gemma3TextConfig(**small, final_logit_softcapping=30.0))
    assert chunked.plain_output_layer(capped) is None  # tanh after the layer: the logits are needed
    hooked = Gemma3ForCausalLM(Gemma3TextConfig(**small))
    hooked.lm_head.register_forward_hook(lambda module, args, out: out * 2)
    assert chunked.plain_output_layer(hooked) is None
    from peft import LoraConfig, get_peft_model

    on_head = get_peft_model(Gemma3ForCausalLM(Gemma3TextConfig(**small)), LoraConfig(target_modules=["lm_head"]))
    assert chunked.plain_output_layer(on_head) is None  # a LoRA layer, not an nn.Linear
    layer = torch.nn.Linear(3, 5)
    layer.register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    with chunked.returning_inputs(layer):
        assert torch.equal(layer(torch.ones(2, 3)), torch.full((2, 3), 2.0))  # its input, pre-hooks applied
    assert layer(torch.ones(2, 3)).shape == (2, 5)  # put back


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("family", ["decoder", "encoder"])
def test_a_short_training_has_the_loss_curve_of_the_logits_path(tiny_models, tmp_path, monkeypatch, precision,
                                                                family):
    def curve(name: str) -> list[float]:
        out = train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"], model=str(tiny_models[family]),
                              method="lora", out=tmp_path / name, steps=8, lr=2e-2, batch_size=4, seq_len=32,
                              progress=False, precision=precision, checkpoint_every=0)).path
        return json.loads((out / "langarith.json").read_text())["loss_curve"]

    calls = counted(monkeypatch, 5)
    ours = curve("chunked")
    assert calls
    monkeypatch.undo()
    logits_path(monkeypatch)
    before = curve("logits")
    rtol, atol = (1e-5, 1e-6) if precision == "fp32" else (1e-2, 1e-2)
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(before), rtol=rtol, atol=atol)
