"""The FLOPs of one training step, counted from the model's shapes: what `benchmarks/roofline.py` divides
by the step's time to say how near training runs to the machine's matmul peak.

Only matrix products count (every `nn.Linear` and attention's batched products), as a GEMM peak is the limit
they are held against; norms, activations, the softmax and the optimizer are left out. For a step of B
sequences of T positions, K of them scored (the continuation or target positions a decoder's output layer
sees, the masked positions an MLM head sees):

- a linear layer d_in → d_out applied to n rows costs 2·n·d_in·d_out forward; backward the same again for
  its input's gradient if its input needs one, and again for its weight's gradient if its weight trains:

      2·n·d_in·d_out · (1 + [input needs a gradient] + [weight trains])

  (the backward terms only where the loss reads the layer's output: BERT's pooler runs under a token
  classification head, and nothing flows back through it);

  So a fully trained layer costs the familiar ×3; a frozen base weight ×2 where gradients flow through it
  to something trained below (LoRA's A and B, an adapter, the layers under it), and ×1 where nothing
  trained lies below its input (Gemma's first q, k, v under LoRA read the frozen embeddings). n is B·T for
  the body, K for the output layer and what runs only at scored positions (the MLM head's transform), B
  for a sequence-classification head;
- attention with h query heads over T positions costs 2·B·h·T²·(d_qk + d_v) forward (scores, then the
  weighted sum: the whole T × T square, as the fused kernels compute it, masked or not) and, where its
  inputs need gradients, twice that backward (the gradients of the probabilities, V, Q and K). These are
  the model's FLOPs: a fused kernel that recomputes the scores in its backward (flash attention, on the CPU
  as on a GPU) does 2·B·h·T²·d_qk more, which is not counted, as recomputation is not (the convention of
  model-FLOPs utilisation);
- the rotary embedding's outer product of positions and frequencies (2·B·T·d_head/2) is left out: it is
  under 10⁻⁴ of a step.

Which layers there are, their shapes, which rows each sees and which gradients each needs is read from one
traced forward and backward of a small batch through the real model and objective (`trace`); the count
then scales with each step's (B, T, K). torch is imported inside functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langarith.core.errors import LangarithError

ROWS = ("tokens", "scored", "sequences")  # B·T, K, B


class FlopsError(LangarithError):
    """A traced batch cannot tell the rows a layer sees apart (choose other shapes), or shows no layer."""


@dataclass(frozen=True)
class Linear:
    rows: str  # one of ROWS
    d_in: int
    d_out: int
    passes: int  # 1 + [input needs a gradient] + [weight trains]


@dataclass(frozen=True)
class Attention:
    heads: int  # query heads
    d_qk: int
    d_v: int
    backward: bool


@dataclass
class StepFlops:
    """The matrix products of one training step of a model and objective (`trace`), counted for any (B, T, K)."""

    linears: list[Linear] = field(default_factory=list)
    attention: list[Attention] = field(default_factory=list)
    traced: tuple[int, int, int] = (0, 0, 0)  # the (B, T, K) it was read from

    def parts(self, batch: int, length: int, scored: int) -> dict[str, int]:
        """FLOPs by where they are spent: linear layers at every position (the body, its module), at the scored
        positions (the output layer, an MLM head), once per sequence (a classification head), and attention."""
        rows = {"tokens": batch * length, "scored": scored, "sequences": batch}
        out = dict.fromkeys(ROWS, 0)
        for layer in self.linears:
            out[layer.rows] += 2 * rows[layer.rows] * layer.d_in * layer.d_out * layer.passes
        square = batch * length * length
        out["attention"] = sum(2 * square * a.heads * (a.d_qk + a.d_v) * (1 + 2 * a.backward) for a in self.attention)
        return out

    def __call__(self, batch: int, length: int, scored: int) -> int:
        return sum(self.parts(batch, length, scored).values())


def trace(model: Any, loss: Callable[[], Any]) -> StepFlops:
    """The products of `loss()` (a small batch through the model and its objective) and its backward: each
    linear layer's shape, rows and gradients, each attention call's heads and sizes. The batch must have
    B, B·T and K (the rows the output layer sees, 0 where it is not run) all different, so that the rows
    each layer sees say which of them it scales with."""
    import torch

    calls: list[list[Any]] = []  # [rows, d_in, d_out, input needs a gradient, weight trains, backward ran]
    attention: list[tuple[Any, ...]] = []
    shape: dict[str, int] = {}

    def on_linear(module: Any, args: tuple[Any, ...], output: Any = None) -> None:
        x = args[0]
        call = [x.shape[:-1].numel(), module.in_features, module.out_features, x.requires_grad,
                module.weight.requires_grad, output is None]  # the output layer's output is the loss's
        if output is not None and output.requires_grad:  # its backward runs if the loss reads its output
            output.register_hook(lambda grad: call.__setitem__(5, True))
        calls.append(call)

    def on_embedding(module: Any, args: tuple[Any, ...]) -> None:
        shape.setdefault("batch", args[0].shape[0])
        shape.setdefault("length", args[0].shape[1])

    def on_output(module: Any, args: tuple[Any, ...]) -> None:
        shape.setdefault("scored", args[0].shape[:-1].numel())

    core = getattr(model, "module", model)
    core = core.get_base_model() if hasattr(core, "get_base_model") else core
    output = core.get_output_embeddings() if hasattr(core, "get_output_embeddings") else None
    # forward hooks see whether a layer's output reaches the loss; the output layer gets pre-hooks only, so
    # that the chunked loss still takes it as plain
    hooks = [m.register_forward_pre_hook(on_linear) if m is output else m.register_forward_hook(on_linear)
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    hooks.append(core.get_input_embeddings().register_forward_pre_hook(on_embedding))
    if isinstance(output, torch.nn.Module):
        hooks.append(output.register_forward_pre_hook(on_output))
    try:
        with _recording_attention(attention):
            value = loss()
        value.backward()
    finally:
        for hook in hooks:
            hook.remove()
    model.zero_grad(set_to_none=True)
    return _classified(calls, attention, shape)


def _classified(calls: list[list[Any]], attention: list[tuple[Any, ...]],
                shape: dict[str, int]) -> StepFlops:
    if not calls or "batch" not in shape:
        raise FlopsError("the traced step ran no linear layer or no input embedding; trace a real training loss")
    batch, length, scored = shape["batch"], shape["length"], shape.get("scored", 0)
    kinds = {batch: "sequences", scored: "scored", batch * length: "tokens"}
    if len(kinds) < 3:
        raise FlopsError(f"the traced batch ({batch} × {length}, {scored} scored) leaves the rows a layer sees "
                         "ambiguous; trace one with B, B·T and the scored positions all different")
    step = StepFlops(traced=(batch, length, scored))
    for n, d_in, d_out, input_grad, weight_grad, reached in calls:
        if n not in kinds:
            raise FlopsError(f"a {d_in} → {d_out} linear layer saw {n} rows, none of B = {batch}, B·T = "
                             f"{batch * length} or the {scored} scored positions; this step cannot be counted")
        step.linears.append(Linear(kinds[n], d_in, d_out, 1 + reached * (input_grad + weight_grad)))
    for heads, d_qk, d_v, queries, keys, backward in attention:
        if queries != length or keys != length:
            raise FlopsError(f"attention over {queries} × {keys} positions in a batch of length {length}: only "
                             "self-attention over the whole sequence is counted")
        step.attention.append(Attention(heads, d_qk, d_v, backward))
    return step


@contextlib.contextmanager
def _recording_attention(out: list[tuple[Any, ...]]) -> Iterator[None]:
    """`torch.nn.functional.scaled_dot_product_attention`, recording (heads, d_qk, d_v, queries, keys, whether
    its backward runs) of every call, for the duration."""
    import torch

    original = torch.nn.functional.scaled_dot_product_attention

    def recording(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        backward = torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value))
        out.append((query.shape[-3], query.shape[-1], value.shape[-1], query.shape[-2], key.shape[-2], backward))
        return original(query, key, value, *args, **kwargs)

    torch.nn.functional.scaled_dot_product_attention = recording
    try:
        yield
    finally:
        torch.nn.functional.scaled_dot_product_attention = original
