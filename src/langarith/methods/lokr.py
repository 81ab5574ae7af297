"""Kronecker adapters (LoKr) through PEFT: ΔW = w1 ⊗ w2. `factor` sets the size of w1 (PEFT's
decompose_factor; paper 1, on PaLM 2-S, used a 32 × 16 w1 and a full w2 — any split that divides the layer
works)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from langarith.methods import register
from langarith.methods.lora import LoRA


@register
class LoKr(LoRA):
    name = "lokr"
    defaults: ClassVar[dict[str, Any]] = {
        "rank": 4, "alpha": 8, "targets": None, "factor": -1, "decompose_both": False, "dropout": 0.0,
    }

    adapts_conv1d: ClassVar[bool] = False

    def peft_config(self, options: dict[str, Any], targets: list[str], fan_in_fan_out: bool = False) -> Any:
        from peft import LoKrConfig

        return LoKrConfig(r=int(options["rank"]), alpha=options["alpha"], target_modules=targets,
                          decompose_factor=int(options["factor"]), decompose_both=bool(options["decompose_both"]),
                          module_dropout=float(options["dropout"]))

    def save(self, model: Any, folder: Path) -> None:
        model.save_pretrained(str(folder))
