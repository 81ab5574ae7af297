"""LoRA through PEFT. Paper 1's setting: rank 4 on the attention q, k, v, o projections, lr 2e-4."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from langarith.methods import Method, MethodError, register
from langarith.models import attention_targets


@register
class LoRA(Method):
    name = "lora"
    defaults: ClassVar[dict[str, Any]] = {"rank": 4, "alpha": 8, "targets": None, "dropout": 0.0}
    base_field: ClassVar[str | None] = "base_model_name_or_path"

    #: whether the method can adapt GPT-2-style Conv1D layers (weights stored transposed)
    adapts_conv1d: ClassVar[bool] = True

    def peft_config(self, options: dict[str, Any], targets: list[str], fan_in_fan_out: bool = False) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=int(options["rank"]), lora_alpha=options["alpha"], target_modules=targets,
                          lora_dropout=float(options["dropout"]), fan_in_fan_out=fan_in_fan_out)

    def attach(self, model: Any, options: dict[str, Any], family: str, lang_module: Path | None = None) -> Any:
        from peft import get_peft_model

        if lang_module is not None:
            raise MethodError("stacking on a language module (MAD-X) needs --method bottleneck")
        targets = list(options["targets"] or attention_targets(model))
        options["targets"] = targets
        conv1d = _conv1d_layers(model, targets)
        if conv1d and not self.adapts_conv1d:
            raise MethodError(f"{self.name} cannot adapt the Conv1D layers ({', '.join(conv1d)}) of this "
                              f"{model.config.model_type} model (PEFT supports it on Linear and Conv layers only); "
                              "use --method lora")
        try:
            return get_peft_model(model, self.peft_config(options, targets, fan_in_fan_out=bool(conv1d)))
        except (ValueError, TypeError) as err:  # e.g. targets not in the model, a layer type PEFT cannot wrap
            why = str(err).rstrip(". ")
            raise MethodError(f"{self.name} on this {model.config.model_type} model with targets "
                              f"{', '.join(targets)}: {why}. Choose targets among its Linear layers") from err

    def save(self, model: Any, folder: Path) -> None:
        model.save_pretrained(str(folder))


def _conv1d_layers(model: Any, targets: list[str]) -> list[str]:
    """The target layer names whose layers are transformers' Conv1D (GPT-2 and kin: weight is in × out)."""
    names = {name.rsplit(".", 1)[-1] for name, layer in model.named_modules()
             if type(layer).__name__ == "Conv1D" and name.rsplit(".", 1)[-1] in targets}
    return sorted(names)
