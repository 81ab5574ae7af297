"""The FLOPs counted from the model's shapes against torch's own count of the matrix products a step runs
(`torch.utils.flop_counter`), on the tiny models, for each objective the benchmark measures."""

from __future__ import annotations

import pytest
import torch
from conftest import vocabulary

from langarith import models
from langarith.methods import get_method
from langarith.models import heads
from langarith.tasks import TASKS, Example
from langarith.training.data import collate_task
from langarith.training.flops import FlopsError, trace
from langarith.training.objectives import mlm_loss, prefix_lm_loss, task_loss


def torch_count(model, loss_fn) -> int:
    """torch's count of a step's products, its own SDPA formulas given for the CPU's fused attention kernel
    (which `FlopCounterMode` does not know), less the scores that kernel recomputes in its backward (model
    FLOPs: the unfused kernel on the tiny BERT does not recompute them)."""
    from torch.utils.flop_counter import FlopCounterMode, bmm_flop, sdpa_backward_flop_count, sdpa_flop_count

    def forward(query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        b, h, s_q, d_q = query
        recomputed = bmm_flop((b * h, s_q, d_q), (b * h, d_q, key[-2]))
        return sdpa_backward_flop_count(grad_out, query, key, value) - recomputed

    aten = torch.ops.aten
    cpu_kernels = {aten._scaled_dot_product_flash_attention_for_cpu: forward,
                   aten._scaled_dot_product_flash_attention_for_cpu_backward: backward}
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False, custom_mapping=cpu_kernels) as counter:
        loss_fn().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def rotary(position_rows: int, length: int, model) -> int:
    """The one product the count leaves out: Llama's rotary outer product of positions and frequencies,
    2·T·(d_head/2) per row of position ids (one row when the model makes them, B when given)."""
    config = model.config
    return 2 * position_rows * length * (config.hidden_size // config.num_attention_heads) // 2


def attached(tiny_models, family: str, method: str, options: dict | None = None):
    info = models.resolve(str(tiny_models[family]))
    model, _ = models.load(info)
    m = get_method(method)
    return m.attach(model, m.options(options or {}), family).train(), models.load_tokenizer(info)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_prefix_lm_step_counts_what_torch_counts(tiny_models, method):
    model, _ = attached(tiny_models, "decoder", method)
    ids = torch.randint(5, vocabulary(model), (3, 10), generator=torch.Generator().manual_seed(0))
    step = trace(model, lambda: prefix_lm_loss(model, ids, 4))
    # other shapes than the traced one: B = 2, T = 24, K = 2·(24 − 9)
    ids = torch.randint(5, vocabulary(model), (2, 24), generator=torch.Generator().manual_seed(1))
    expected = torch_count(model, lambda: prefix_lm_loss(model, ids, 9)) - rotary(1, 24, model)
    assert step(2, 24, 2 * 15) == expected
    parts = step.parts(2, 24, 30)
    assert parts["scored"] > 0 and parts["attention"] > 0 and parts["sequences"] == 0
    if method == "lora":  # q, k, v of the first layer read the frozen embeddings: no input gradient
        assert min(layer.passes for layer in step.linears) == 1


def test_label_only_task_step_counts_what_torch_counts(tiny_models):
    model, tok = attached(tiny_models, "decoder", "lora")
    pairs = [([1, 9, 14, 30, 31], [40, 41]), ([1, 22, 7], [50]), ([1, 5, 6, 7, 8, 9], [60, 61, 62])]
    batch = collate_task(pairs, tok.pad_token_id)
    step = trace(model, lambda: task_loss(model, batch))
    length, scored = batch["ids"].shape[1], 3 * batch["keep"].numel()
    assert step(3, length, scored) == torch_count(model, lambda: task_loss(model, batch)) - rotary(3, length, model)


def test_masked_lm_step_counts_what_torch_counts(tiny_models):
    """MAD-X's language adapter (invertible adapters on the embeddings), the MLM head at masked positions."""
    model, tok = attached(tiny_models, "encoder", "bottleneck", {"config": "seq_bn_inv", "reduction_factor": 2})
    ids = torch.randint(5, vocabulary(model), (3, 20), generator=torch.Generator().manual_seed(2))

    def loss():
        return mlm_loss(model, ids, tok, torch.Generator().manual_seed(5))

    step = trace(model, loss)
    assert {layer.rows for layer in step.linears} == {"tokens", "scored"} and step.traced[:2] == (3, 20)
    assert step(*step.traced) == torch_count(model, loss)


def test_encoder_task_head_step_counts_what_torch_counts(tiny_models):
    info = models.resolve(str(tiny_models["encoder"]))
    model = heads.load_model(info.path)
    method = get_method("bottleneck")
    model = method.attach(model, method.options({}), "encoder")
    task = TASKS["sib200"]
    heads.add_head(model, "langarith", task, ["a", "b", "c"])
    tok = models.load_tokenizer(info)
    examples = [Example(prompt="", target=lab, label=lab, inputs={"text": t})
                for t, lab in (("o livro é bom", "a"), ("a casa grande e a comida", "b"), ("hoje", "c"))]
    batch = heads.collate(heads.encode(task, examples, tok, 32, ["a", "b", "c"]), tok.pad_token_id)
    model.train()
    step = trace(model, lambda: heads.head_loss(model, batch))
    assert {layer.rows for layer in step.linears} == {"tokens", "sequences"}
    b, t = batch["input_ids"].shape
    assert step(b, t, 0) == torch_count(model, lambda: heads.head_loss(model, batch))


def test_a_batch_that_leaves_rows_ambiguous_is_refused(tiny_models):
    model, _ = attached(tiny_models, "decoder", "lora")
    ids = torch.randint(5, vocabulary(model), (1, 10), generator=torch.Generator().manual_seed(0))
    with pytest.raises(FlopsError, match="ambiguous"):  # one sequence, one scored position: K = B
        trace(model, lambda: prefix_lm_loss(model, ids, 9))
