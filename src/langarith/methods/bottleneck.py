"""Bottleneck adapters through AdapterHub: `seq_bn` (Pfeiffer) and `seq_bn_inv` (with invertible
embedding layers, MAD-X's language adapters). With a language module, MAD-X mode: the new task adapter
is trained on top of the frozen language adapter (`Stack(lang, task)`).

Gemma 3 needs `original_ln_before=False`: its layers have no residual LayerNorm where AdapterHub's
default bottleneck expects one, so the default silently breaks the model (seen with adapters 1.3.0).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from langarith.methods import Method, MethodError, register

NAME = "langarith"
LANG = "langarith_lang"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """AdapterHub warns "adapters available but none are activated" from inside its own `train_adapter` and
    `load_adapter` (it runs an empty forward before the new setup is active): noise, not a problem of ours."""
    log = logging.getLogger("adapters.model_mixin")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


#: the AdapterHub configurations a bottleneck adapter may take (Pfeiffer's, and with invertible adapters)
CONFIGS = ("seq_bn", "seq_bn_inv")


@register
class Bottleneck(Method):
    name = "bottleneck"
    defaults: ClassVar[dict[str, Any]] = {"config": "seq_bn", "reduction_factor": 16, "non_linearity": "relu"}
    base_field: ClassVar[str | None] = "model_name"

    def attach(self, model: Any, options: dict[str, Any], family: str, lang_module: Path | None = None) -> Any:
        import adapters
        from adapters import SeqBnConfig, SeqBnInvConfig
        from adapters.composition import Stack

        kinds = dict(zip(CONFIGS, (SeqBnConfig, SeqBnInvConfig), strict=True))
        if options["config"] not in kinds:
            raise MethodError(f"bottleneck config must be one of {', '.join(kinds)}, got {options['config']!r}")
        extra = {"original_ln_before": False} if model.config.model_type.startswith("gemma3") else {}
        config = kinds[options["config"]](reduction_factor=int(options["reduction_factor"]),
                                          non_linearity=options["non_linearity"], **extra)
        try:
            adapters.init(model)
        except Exception as err:  # AdapterHub raises on unsupported architectures
            raise MethodError(
                f"AdapterHub does not support {model.config.model_type} ({err}); use --method lora or lokr"
            ) from err
        with quiet():
            model.add_adapter(NAME, config=config)
            if lang_module is not None:
                model.load_adapter(str(lang_module), load_as=LANG, with_head=False)
                model.train_adapter(NAME)
                model.active_adapters = Stack(LANG, NAME)
            else:
                model.train_adapter(NAME)
        # train_adapter freezes only the base model's body; a task head (e.g. BERT's MLM head) would
        # train too and then be lost, since the adapter folder does not hold it.
        for name, param in model.named_parameters():
            param.requires_grad = param.requires_grad and NAME in name.split(".")
        return model

    def save(self, model: Any, folder: Path) -> None:
        # Once, as AdapterHub's default save does (a weights-only pickle): `load_adapter(folder)` reads it with
        # AdapterHub's defaults and with use_safetensors=True alike. A task adapter on an encoder keeps its
        # prediction head (MAD-X); language adapters have none.
        with_head = NAME in getattr(model, "heads", {})
        model.save_adapter(str(folder), NAME, with_head=with_head)
