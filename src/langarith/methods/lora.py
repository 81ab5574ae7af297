"""LoRA through PEFT. Paper 1's setting: rank 4 on the attention q, k, v, o projections, lr 2e-4."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from langarith.methods import Method, MethodError, register
from langarith.models import attention_targets


class LoRA(Method):
    name = "lora"
    defaults: ClassVar[dict[str, Any]] = {"rank": 4, "alpha": 8, "targets": None, "dropout": 0.0}

    def peft_config(self, options: dict[str, Any], targets: list[str]) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=int(options["rank"]), lora_alpha=options["alpha"], target_modules=targets,
                          lora_dropout=float(options["dropout"]))

    def attach(self, model: Any, options: dict[str, Any], family: str, lang_module: Path | None = None) -> Any:
        from peft import get_peft_model


        if lang_module is not None:
            raise MethodError("stacking on a language module (MAD-X) needs --method bottleneck")
        targets = list(options["targets"] or attention_targets(model))
        options["targets"] = targets
        return get_peft_model(model, self.peft_config(options, targets))

    def save(self, model: Any, folder: Path) -> None:
        model.save_pretrained(str(folder))


register(LoRA())
