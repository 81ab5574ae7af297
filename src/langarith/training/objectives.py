"""The loss of one batch, by objective: prefix-LM for decoders (one split point per batch; loss only on the
continuation, and the LM head — 262k rows for Gemma 3 — evaluated only at those positions via
`logits_to_keep`), prefix → continuation for encoder-decoders, masked LM for encoders (the head applied to
the masked positions only), label-only loss for task modules (on encoder-decoders the decoder's loss on the
target), and the AdapterHub head's own loss for encoder task adapters. Where a vocabulary's output layer is
plain, its cross-entropy is taken in chunks of positions, without the full fp32 logits (`chunked`).
`frozen_linears_in` holds frozen weights in bf16 for the training loop. torch is imported inside functions.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

import numpy as np

from langarith.core import devices
from langarith.models import heads
from langarith.training import chunked
from langarith.training.data import TrainingData, collate_seq2seq, collate_task


def prefix_lm_loss(model: Any, ids: Any, split: int) -> Any:
    """Causal LM loss on positions ≥ split; logits are computed only where they are scored."""
    import torch

    ids = ids.to(_device_of(model))
    keep = torch.arange(split - 1, ids.shape[1] - 1, device=ids.device)
    return kept_loss(model, {"input_ids": ids}, keep, ids[:, split:])


def kept_loss(model: Any, inputs: dict[str, Any], keep: Any, targets: Any) -> Any:
    """Cross-entropy of the model's logits at positions `keep` against `targets` (batch × len(keep), -100
    ignored): taken in chunks from the output layer's inputs where the layer is plain (`chunked`), else from
    the logits."""
    layer = chunked.plain_output_layer(model)
    with chunked.returning_inputs(layer):
        out = model(**inputs, logits_to_keep=keep).logits  # the output layer's inputs where it is plain
    if out.shape[1] != keep.numel():  # a model that ignores logits_to_keep: slice instead
        out = out[:, keep]
    return chunked.cross_entropy(out.reshape(-1, out.shape[-1]), layer, targets.reshape(-1))


def seq2seq_loss(model: Any, ids: Any, split: int) -> Any:
    ids = ids.to(_device_of(model))
    return model(input_ids=ids[:, :split].contiguous(), labels=ids[:, split:].contiguous()).loss


def _device_of(model: Any) -> Any:
    return next(model.parameters()).device


def mlm_loss(model: Any, ids: Any, tokenizer: Any, generator: Any) -> Any:
    """BERT-style masking (15%: 80% [MASK], 10% random, 10% kept); the head sees only masked positions. The
    masks are drawn on the CPU from `generator` (so they do not depend on the device), then moved."""
    import torch

    ids = ids.cpu()

    special = torch.tensor(tokenizer.all_special_ids)
    probs = torch.full(ids.shape, 0.15)
    probs[torch.isin(ids, special)] = 0.0
    chosen = torch.bernoulli(probs, generator=generator).bool()
    if not chosen.any():
        chosen[0, 0] = True
    inputs = ids.clone()
    roll = torch.rand(ids.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_tokens = torch.randint(vocabulary_size(tokenizer), ids.shape, generator=generator)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_tokens[swap]
    where = _device_of(model)
    # the masked positions as indices found on the CPU: a boolean mask on the device would make it wait for
    # the GPU every step to learn how many there are
    picked = chosen.flatten().nonzero()[:, 0]
    inputs, picked, gold = inputs.to(where), picked.to(where), ids.flatten()[picked].to(where)
    core = unwrap(model)
    body, head = split_mlm(model)
    active = core.active_adapters if getattr(core, "adapters_config", None) is not None else None
    if active:  # AdapterHub activates adapters in the top-level forward only; the body needs it said
        from adapters import AdapterSetup

        with AdapterSetup(active):
            hidden = body(input_ids=inputs).last_hidden_state
    else:
        hidden = body(input_ids=inputs).last_hidden_state
    layer = chunked.plain_output_layer(model)
    with chunked.returning_inputs(layer):  # the head's last layer hands back its inputs where it is plain
        out = head(hidden.reshape(-1, hidden.shape[-1]).index_select(0, picked))
    return chunked.cross_entropy(out, layer, gold)


#: len(tokenizer) by tokenizer: a fast tokenizer counts its vocabulary anew at every call (0.2–0.6 s for e5's and
#: Gemma's 250k pieces), which the masked-LM loss paid at every step
_VOCABULARY_SIZES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vocabulary_size(tokenizer: Any) -> int:
    """`len(tokenizer)` (added tokens included), counted once per tokenizer."""
    if tokenizer not in _VOCABULARY_SIZES:
        _VOCABULARY_SIZES[tokenizer] = len(tokenizer)
    return _VOCABULARY_SIZES[tokenizer]


@contextlib.contextmanager
def frozen_linears_in(model: Any, dtype: Any) -> Any:
    """Hold every frozen linear layer's weights in `dtype` for the duration, then put the originals back.

    Under bf16 autocast a frozen fp32 weight is cast to bf16 again at every use (autocast caches casts only
    of weights that require grad): for Gemma 3 that is 268M numbers, its 262k-row LM head included, re-read
    and re-written each step. The cast is deterministic, so holding the cast copy gives bitwise the same
    matmuls, once. A head tied to the input embeddings gets its own copy; the embedding lookup stays fp32,
    as under autocast. Trainable weights and everything saved stay fp32."""
    import torch

    swapped = []
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and not module.weight.requires_grad:
                for name in ("weight", "bias"):
                    param = getattr(module, name)
                    if param is not None and param.is_floating_point() and not param.requires_grad:
                        swapped.append((module, name, param))
                        setattr(module, name, torch.nn.Parameter(param.to(dtype), requires_grad=False))
    try:
        yield model
    finally:
        for module, name, param in swapped:
            setattr(module, name, param)


def language_loss(model: Any, ids: Any, split: int, objective: str, family: str, tokenizer: Any,
                  generator: Any) -> Any:
    """The language-module loss of one batch: MLM for encoders, else prefix → continuation."""
    if objective == "mlm":
        return mlm_loss(model, ids, tokenizer, generator)
    if family == "encoder-decoder":
        return seq2seq_loss(model, ids, split)
    return prefix_lm_loss(model, ids, split)


def split_mlm(model: Any) -> tuple[Any, Any]:
    """(encoder body, MLM head) of a masked-LM model, e.g. (bert, cls) or (roberta, lm_head)."""
    core = unwrap(model)
    body = getattr(core, core.base_model_prefix)
    return body, next(m for n, m in core.named_children() if n != core.base_model_prefix)


def unwrap(model: Any) -> Any:
    """The Hugging Face model inside DDP and PEFT wrappers (adapter layers stay injected)."""
    model = getattr(model, "module", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def task_loss(model: Any, batch: dict[str, Any]) -> Any:
    batch = devices.to_device(batch, _device_of(model))
    keep = batch["keep"]
    inputs = {"input_ids": batch["ids"], "attention_mask": batch["mask"], "position_ids": batch["positions"]}
    return kept_loss(model, inputs, keep, batch["labels"][:, keep + 1])


def batch_loss(data: TrainingData, model: Any, rows: np.ndarray, step: int, seed: int, seq_len: int, family: str,
               tokenizer: Any, generator: Any, first: bool = True) -> tuple[Any, int]:
    """The loss of the batch `rows` at `step` and its token count. The prefix-LM split point and the MLM masks
    are drawn from (seed, step), so a resumed run draws what an uninterrupted one would: every micro-batch of a
    step splits where the step does, and the masks of its later micro-batches (not `first`) continue the
    generator the first one seeded."""
    import torch

    if data.sequences is not None:
        ids = torch.from_numpy(data.sequences[rows])
        split = int(np.random.default_rng([seed, step, 7]).integers(seq_len // 4, 3 * seq_len // 4 + 1))
        if first:
            generator.manual_seed(seed * 1_000_003 + step)
        return language_loss(model, ids, split, data.objective, family, tokenizer, generator), ids.numel()
    if data.head is not None:
        batch = heads.collate([data.pairs[i] for i in rows], tokenizer.pad_token_id)
        tokens = int(batch["attention_mask"].sum())  # counted on the CPU, before the batch moves
        return heads.head_loss(model, devices.to_device(batch, _device_of(model))), tokens
    pairs = [data.pairs[i] for i in rows]
    if family == "encoder-decoder":
        batch = devices.to_device(collate_seq2seq(pairs, tokenizer.pad_token_id), _device_of(model))
        return model(input_ids=batch["ids"], attention_mask=batch["mask"], labels=batch["labels"]).loss, \
            batch["tokens"]
    batch = collate_task(pairs, tokenizer.pad_token_id)
    return task_loss(model, batch), batch["tokens"]


def heldout_loss(model: Any, data: TrainingData, seq_len: int, family: str, tokenizer: Any) -> float | None:
    """A language module's loss on its held-out sequences, with a fixed split and mask, so that the loss
    before and after training compare."""
    import torch

    if data.heldout is None or len(data.heldout) == 0:
        return None
    with torch.no_grad():
        return float(language_loss(model, torch.from_numpy(data.heldout), seq_len // 2, data.objective, family,
                                   tokenizer, torch.Generator().manual_seed(12345)))
