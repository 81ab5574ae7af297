"""Cross-entropy through a model's output layer in chunks of positions, without the full logits.

For Gemma 3 the output layer has 262k rows: the fp32 logits of one 8 × 32-position continuation are 268 MB,
written, read by log-softmax, written again, zero-filled and read twice more by the backward. Here the loss
of rows r (the output layer's inputs h_r, targets y_r, n of them not ignored) is

    loss = 1/n · Σ_r [logsumexp(z_r) − z_r[y_r]],   z_r = W·h_r + b,

computed `chunk_rows` rows at a time: z in the model's dtype (the matmul as the layer would run it under
autocast), fp32 only for that chunk's log-softmax; and since the gradient with respect to z is known as soon
as z is, ∂loss/∂z_r = (softmax(z_r) − onehot(y_r)) / n, the backward's products are taken in the same pass:
∂h_r = ∂z_r·W, and ∂W = Σ_r ∂z_rᵀ h_r, ∂b = Σ_r ∂z_r where those are trained. The backward then only scales
what was kept (the size of h, W and b), and no chunk's logits outlive it. The arithmetic is the unchunked
path's: fp32 logits give the same loss and gradients up to summation order, bf16 autocast rounds z and ∂z
to bf16 where `F.linear` and its backward do. (A forward with gradients on whose backward never runs would
pay for ∂h for nothing; training always runs it, and without gradients only the loss is computed.) On one
Gemma 3 prefix-LM step of 8 × 64 tokens, CPU seconds on one thread of the 2-core CPU while other work loaded
it: bf16 2.15 → 2.01, fp32 5.37 → 5.20 (the log-softmax's backward, the zero-filled gradient of the logits
and their casts are gone; in fp32 the step was already 84% matmuls).

`plain_output_layer` says when it applies (an `nn.Linear` output layer with no forward hooks after it and
no logit soft-capping), and `returning_inputs` has the model's own forward hand back the layer's inputs (its
pre-hooks applied: AdapterHub's invertible adapters invert there) in place of logits, so that wrappers (DDP,
PEFT, AdapterHub's activation of adapters) see the forward they expect. torch is imported inside functions.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

#: fp32 logits per chunk, in numbers: 256 rows of Gemma 3's 262k-piece vocabulary (256 MB), all the scored
#: positions of a default CPU batch (8 × 32 on average). Each chunk reads the output layer's weights twice
#: (logits, then ∂h), and the CPU's matmuls slow down with fewer rows. The head's forward and backward for 256
#: rows, CPU seconds on one thread of the 2-core CPU (while other work loaded it): bf16 0.94 in one chunk, 0.99
#: in 128-row chunks, 1.12 in 64-row ones, 1.18 unchunked; fp32 2.33, 2.72, 2.95 against 2.63. Longer batches
#: (32 × 256 on a GPU: 4.3 GB of fp32 logits unchunked) hold one chunk's logits at a time.
CHUNK_NUMBERS = 1 << 26


def plain_output_layer(model: Any) -> Any:
    """The model's output layer if the loss may be taken from its inputs: an `nn.Linear` without forward
    hooks, with nothing applied to its outputs after it (no `final_logit_softcapping`); else None."""
    import torch

    core = getattr(model, "module", model)
    core = core.get_base_model() if hasattr(core, "get_base_model") else core
    layer = core.get_output_embeddings() if hasattr(core, "get_output_embeddings") else None
    config = getattr(core, "config", None)
    texts = [config, config.get_text_config() if hasattr(config, "get_text_config") else None]
    capped = any(getattr(c, "final_logit_softcapping", None) is not None for c in texts)
    if type(layer) is not torch.nn.Linear or layer._forward_hooks or capped:
        return None
    return layer


@contextlib.contextmanager
def returning_inputs(layer: Any) -> Iterator[Any]:
    """For the duration, `layer` (None: nothing changes) returns its input, after its pre-hooks, unchanged."""
    if layer is None:
        yield layer
        return
    layer.forward = _identity
    try:
        yield layer
    finally:
        del layer.forward


def _identity(x: Any) -> Any:
    return x


def cross_entropy(out: Any, layer: Any, targets: Any) -> Any:
    """Mean cross-entropy (-100 ignored) of rows × … `out`: the inputs of `layer` where it is plain (what
    `returning_inputs(layer)` handed back), taken in chunks through it; else logits (`layer` None)."""
    import torch.nn.functional as F

    if layer is not None:
        return linear_cross_entropy(out, layer, targets)
    return F.cross_entropy(out.float(), targets, ignore_index=-100)


def linear_cross_entropy(hidden: Any, layer: Any, targets: Any, ignore_index: int = -100,
                         chunk_rows: int | None = None) -> Any:
    """Mean cross-entropy of `layer(hidden)` (rows × vocabulary) against `targets` (rows), ignoring
    `ignore_index`, a chunk of rows at a time (see the module docstring); the dtype of the products is the
    autocast dtype where autocast is on, else the weights'."""
    import torch

    weight, bias = layer.weight, layer.bias
    where = hidden.device.type
    dtype = torch.get_autocast_dtype(where) if torch.is_autocast_enabled(where) else weight.dtype
    rows = chunk_rows or max(1, CHUNK_NUMBERS // weight.shape[0])
    grads = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (hidden, weight, bias))
    with torch.autocast(where, enabled=False):
        return _function().apply(hidden, weight, bias, targets, ignore_index, rows, dtype, grads)


@functools.cache
def _function() -> Any:
    """The autograd function (defined on first use: torch is imported inside functions): the loss forward, the
    gradients taken in the same pass and kept, scaled by the incoming gradient in the backward."""
    import torch

    class LinearCrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, hidden: Any, weight: Any, bias: Any, targets: Any, ignore_index: int, rows: int,
                    dtype: Any, grads: bool) -> Any:
            loss, kept = chunked_loss_and_grads(hidden, weight, bias, targets, ignore_index, rows, dtype, grads)
            ctx.present = [t is not None for t in kept]
            ctx.save_for_backward(*[t for t in kept if t is not None])
            return loss

        @staticmethod
        def backward(ctx: Any, grad_loss: Any) -> Any:
            kept = iter(ctx.saved_tensors)
            scaled = [next(kept) * grad_loss if present else None for present in ctx.present]
            return (*scaled, None, None, None, None, None)

    return LinearCrossEntropy


def chunked_loss_and_grads(hidden: Any, weight: Any, bias: Any, targets: Any, ignore_index: int, rows: int,
                           dtype: Any, grads: bool) -> tuple[Any, list[Any]]:
    """(the mean loss, [∂h, ∂W, ∂b] where each is wanted and trained, else None), `rows` rows at a time."""
    import torch

    valid = targets != ignore_index
    count = valid.sum().float()  # none scored: NaN, as F.cross_entropy gives
    w = weight.to(dtype)
    b = None if bias is None else bias.to(dtype)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    want = [grads and t is not None and t.requires_grad for t in (hidden, weight, bias)]
    d_hidden = torch.empty_like(hidden) if want[0] else None
    d_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want[1] else None
    d_bias = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if want[2] else None
    for start in range(0, hidden.shape[0], rows):
        h = hidden[start:start + rows].to(dtype)
        y, ok = targets[start:start + rows], valid[start:start + rows]
        # log-softmax reads the chunk's logits in their dtype and writes fp32: one pass, no fp32 copy before it
        logp = torch.log_softmax(torch.nn.functional.linear(h, w, b), -1, dtype=torch.float32)
        total -= torch.where(ok, logp.gather(1, y.clamp(min=0)[:, None])[:, 0], 0.0).sum()
        if not grads:
            continue
        dz = logp.exp_()  # softmax, in place
        dz[torch.arange(len(y), device=y.device), y.clamp(min=0)] -= 1.0
        dz = dz.mul_((ok / count)[:, None]).to(dtype)
        if d_hidden is not None:
            d_hidden[start:start + rows] = dz @ w
        if d_weight is not None:
            d_weight += (dz.t() @ h).float()
        if d_bias is not None:
            d_bias += dz.float().sum(0)
    kept = [d_hidden, None if d_weight is None else d_weight.to(weight.dtype),
            None if d_bias is None else d_bias.to(bias.dtype)]
    return total / count, kept
