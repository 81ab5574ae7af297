"""A module applied to a model already in memory — what a notebook does between `load` or a recipe and
generation: the module's update added into the weights of a transformers model, as PEFT's merge would leave them
(`evaluation.deltas`), with no folder on disk and no PEFT wrapper; `applied` restores the weights on exit.

    with langarith.applied(add_subtract(task=t, target=pt, source=en, lam=0.7), model):
        model.generate(...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langarith.arith.algebra import ModuleVector
from langarith.arith.module import Module
from langarith.evaluation import deltas
from langarith.evaluation.base import EvaluationError, finite


def _module(module: Module | ModuleVector | str | Path, semantics: str) -> Module:
    if isinstance(module, ModuleVector):
        return module.materialize(semantics)  # type: ignore[arg-type]
    return finite(module)  # a Module, or its folder


def apply(module: Module | ModuleVector | str | Path, model: Any, *, semantics: str = "factor") -> Any:
    """Add `module` (a LoRA or LoKr module, its folder, or a composition, materialised `semantics`-wise) into the
    weights of `model`, a transformers model, in place; returns `model` and keeps the change. `applied` undoes it
    on exit. Bottleneck adapters add layers instead: load them with AdapterHub's `load_adapter`."""
    _merge(module, model, semantics)
    return model


@contextlib.contextmanager
def applied(module: Module | ModuleVector | str | Path, model: Any, *, semantics: str = "factor") -> Iterator[Any]:
    """`model` with `module` added into its weights (as `apply`), the weights restored exactly on exit."""
    snapshot = _merge(module, model, semantics)
    try:
        yield model
    finally:
        deltas.restore(snapshot)


def _merge(module: Module | ModuleVector | str | Path, model: Any, semantics: str) -> list[tuple[Any, Any]]:
    loaded = _module(module, semantics)
    if hasattr(model, "peft_config"):
        raise EvaluationError(f"{type(model).__name__} already wraps its layers in PEFT adapters: apply "
                              f"{loaded.label} to the transformers model itself (`peft_model.get_base_model()` before "
                              "any adapter is attached, or the model you loaded), or load it with PeftModel")
    plan = deltas.plan_saved(model, loaded)
    if plan is None:
        raise EvaluationError(f"{loaded.label} ({loaded.format} {loaded.kind}) cannot be added into "
                              f"{type(model).__name__}'s weights in memory: apply takes PEFT LoRA and LoKr modules "
                              "without DoRA, biases, rank patterns or modules_to_save, on the Linear layers they "
                              "target. Load it with PeftModel.from_pretrained(model, folder) instead")
    try:
        return deltas.merge(model, loaded, plan)
    except deltas.DoesNotFit as err:
        raise EvaluationError(f"{loaded.label} does not fit {type(model).__name__}: {err}. Apply it to the base "
                              "model it was trained on") from err
