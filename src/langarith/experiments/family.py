"""What differs between paper 1's decoder tables and paper 2's MAD-X tables, as values a setting names: the
method's options per role, what a table is evaluated on, the evaluation precision, whether task modules train
on their language's module, and what the analysis plots compare.

- `DECODER`: LoRA / LoKr modules merged into a decoder's weights; the plots compare ΔW.
- `MADX`: MAD-X bottleneck adapters on an encoder — a language adapter per language (`seq_bn_inv`, masked
  LM, reduction factor 2), a task adapter with its head (`seq_bn`, factor 16) trained on its language's
  adapter; tables are evaluated on the source's task adapter with the language slot filled by each row; the
  plots compare what training changed, Δθ = θ − θ₀.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from langarith.analysis.measures import as_updates
from langarith.arith.module import Module
from langarith.core import devices
from langarith.evaluation import merged_evaluator
from langarith.evaluation.madx import MadxEvaluator
from langarith.experiments.plan import Need, task


@dataclass(frozen=True)
class Family:
    name: str
    made_options: Mapping[str, Mapping[str, Any]]  # role → options the family gives (the config's override them)
    #: (model, the folder of the model or task module to evaluate on, evaluator options) → an evaluator
    evaluator: Callable[..., Any]
    evaluated_on: Callable[[Any], Need | None]  # config → what the table is evaluated on (None: the base model)
    eval_precision: Callable[[], str]
    task_on_language: bool = False  # a task module trains on its language's module (MAD-X)
    method: str | None = None  # the method its settings require
    #: (module, its initial state or None) → what the plots compare (None: left out)
    analysis: Callable[[Module, Module | None], Module | None] = lambda module, start: as_updates(module)
    initial_states: bool = False  # the analysis reads each module's initial state

    def options(self, role: str, config_options: Mapping[str, Any]) -> dict[str, Any]:
        """The method's options for a module of `role`: the family's, then the config's `method_options`."""
        return {**self.made_options.get(role, {}), **config_options}


def _decoder(model: str | None, on: Path | None, **options: Any) -> Any:
    return merged_evaluator(str(on) if on is not None else model, **options)


def _madx(model: str | None, on: Path | None, **options: Any) -> Any:
    return MadxEvaluator(model, on, **options)


def delta_theta(module: Module, start: Module | None) -> Module | None:
    """What training changed, Δθ = θ − θ₀, of an adapter (a task adapter's head left out): adapters of one
    base and config share their initial weights, so the cosine of raw parameters would mostly measure that
    shared start (raw cosine 0.64–0.67 between the cpu run's language adapters, Δθ 0.12–0.18). Without a
    known start, a language adapter is compared as it is and a task adapter left out."""
    if start is None:
        return module if (module.role or "language") == "language" else None
    delta = {k: v - start.tensors[k] for k, v in module.tensors.items() if k in start.tensors}
    return replace(module, tensors=delta, extras={}, kind=f"{module.kind} Δθ")


DECODER = Family("decoder", {}, _decoder, evaluated_on=lambda config: None,
                 eval_precision=lambda: "fp32")  # merged-weights evaluation: see langarith.core.devices
MADX = Family("madx", {"language": {"config": "seq_bn_inv", "reduction_factor": 2},
                       "task": {"config": "seq_bn", "reduction_factor": 16}}, _madx,
              evaluated_on=lambda config: task(config.sources[0]),
              eval_precision=lambda: "bf16" if devices.device().type == "cuda" else "fp32",  # autocast on a GPU
              task_on_language=True, method="bottleneck", analysis=delta_theta, initial_states=True)
