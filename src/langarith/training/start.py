"""Where a module's training starts: its initial weights, drawn on the CPU from a seed of (base model, method,
options), so every module trained for those starts from the same weights on every machine. Training attaches
a module through `attach_fresh`; the analysis of what training changed (Δθ = θ − θ₀) rebuilds that start
through `initial_module`, the same steps, so the two cannot drift apart.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from langarith import models
from langarith.arith.formats import load
from langarith.arith.module import Module
from langarith.methods import fingerprint, get_method, init_seed
from langarith.models import heads


def attach_fresh(model: Any, info: Any, method: Any, options: dict[str, Any],
                 lang_module: Path | None = None) -> tuple[Any, int]:
    """`model` with a fresh module of `method` attached (on top of the frozen `lang_module`, MAD-X), and the
    seed its weights were drawn from. A task head is drawn after this, so the adapter's start does not depend
    on it."""
    import torch

    seed = init_seed(info.seed_name, method.name, options)
    torch.manual_seed(seed)
    return method.attach(model, options, info.family, lang_module), seed


def initial_module(model: str | None, method: str, options: dict[str, Any], role: str,
                   expected: str | None = None) -> Module | None:
    """The module of `role` as training starts it on `model` (None if its fingerprint is not `expected`): a
    task module in the AdapterHub model encoder task modules train in, a language module in the base model."""
    info = models.resolve(model)
    chosen = get_method(method)
    options = chosen.options(dict(options))
    if role == "task" and info.family == "encoder":
        base = heads.load_model(info.path)
    else:
        with heads.fresh_weights_unreported():  # a fresh MLM head is reported again; it plays no part here
            base, _ = models.load(info)
    attached, _seed = attach_fresh(base, info, chosen, options)
    if expected is not None and fingerprint(chosen.trainable(attached)) != expected:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        chosen.save(attached, Path(tmp))
        return load(tmp)
