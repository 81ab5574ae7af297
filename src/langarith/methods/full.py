"""Full fine-tuning, paper 1's Table 6 baseline: every weight of the base model trains, and the result is a
whole model folder (`save_pretrained` plus the tokenizer), loadable with `--model FOLDER` or
`AutoModelForCausalLM.from_pretrained(FOLDER)`. It is no module: there is nothing to compose, and evaluating
it means loading it as the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from langarith.methods import Method, MethodError, register


@register
class Full(Method):
    name = "full"
    defaults: ClassVar[dict[str, Any]] = {}

    def attach(self, model: Any, options: dict[str, Any], family: str, lang_module: Path | None = None) -> Any:
        if lang_module is not None:
            raise MethodError("full fine-tuning trains the whole model; stacking on a language module (MAD-X) needs "
                              "--method bottleneck")
        for param in model.parameters():
            param.requires_grad = True
        return model

    def save(self, model: Any, folder: Path) -> None:
        """The model and the tokenizer it was loaded with, so the folder is a model of its own."""
        from transformers import AutoTokenizer

        model.save_pretrained(str(folder))
        AutoTokenizer.from_pretrained(model.config._name_or_path).save_pretrained(str(folder))
