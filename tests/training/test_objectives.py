"""What the objectives ask of the tokenizer at every step."""

from __future__ import annotations

import torch
from conftest import vocabulary

from langarith import models
from langarith.training.objectives import mlm_loss


def test_the_masked_lm_loss_counts_the_vocabulary_once(tiny_models):
    """A fast tokenizer counts its vocabulary at every `len()` (0.2–0.6 s for a 250k-piece one): once per
    tokenizer, not once per step."""
    info = models.resolve(str(tiny_models["encoder"]))
    model, _ = models.load(info)
    tok = models.load_tokenizer(info)
    counted = []

    class Counting(type(tok)):
        def __len__(self):
            counted.append(1)
            return super().__len__()

    tok.__class__ = Counting
    ids = torch.randint(5, vocabulary(model), (2, 16), generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    losses = [mlm_loss(model, ids, tok, generator) for _ in range(3)]
    assert len(counted) == 1 and all(torch.isfinite(loss) for loss in losses)
