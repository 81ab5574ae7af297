"""Parameter-efficient methods a module can be trained with; one file per method, registered here.

A method attaches itself to a base model (freezing the rest), names its trainable parameters, and
saves the standard folder of the library that implements it (PEFT or AdapterHub).

Every module langarith trains for a given (base model, method, config) starts from the same initial
parameters: the initialisation RNG is seeded from a hash of those, not from the training seed (which
still drives data order and dropout). Factor-wise arithmetic on LoRA only means something between
modules that share their starting point; the manifest records a fingerprint of it.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from langarith.arith.formats.files import read_json, write_json
from langarith.core.errors import LangarithError
from langarith.core.registry import Registry


class MethodError(LangarithError):
    """A method cannot be used with this model or configuration."""


class Method(ABC):
    name: str
    #: options and their defaults (the paper's where it gives them)
    defaults: ClassVar[dict[str, Any]] = {}

    def options(self, given: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise MethodError(f"{self.name} has no option(s) {', '.join(unknown)}; known: {', '.join(self.defaults)}")
        options = {**self.defaults, **{k: v for k, v in given.items() if v is not None}}
        for key in ("rank", "reduction_factor"):  # sizes: whole numbers of at least 1
            if key in options and (isinstance(options[key], bool) or not isinstance(options[key], int)
                                   or options[key] < 1):
                raise MethodError(f"{self.name} {key} must be a whole number of at least 1, got {options[key]!r}")
        alpha = options.get("alpha")
        if alpha is not None and (not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha <= 0):
            raise MethodError(f"{self.name} alpha must be a positive number, got {alpha!r}")
        if not 0.0 <= float(options.get("dropout", 0.0)) < 1.0:
            raise MethodError(f"{self.name} dropout must be in [0, 1), got {options['dropout']!r}")
        return options

    @abstractmethod
    def attach(self, model: Any, options: dict[str, Any], family: str, lang_module: Path | None = None) -> Any:
        """Add the trainable module to `model` (base frozen) and return the model to train."""

    #: where the library's adapter_config.json names the base model (None: the folder is a whole model)
    base_field: ClassVar[str | None] = None

    @abstractmethod
    def save(self, model: Any, folder: Path) -> None:
        """Write the standard folder (PEFT / AdapterHub) of the trained module into `folder`."""

    def save_portable(self, model: Any, folder: Path, base: str) -> None:
        """`save`, with the base model named `base` (its hub id, else langarith's name) where the library wrote
        the local folder it was loaded from: the folder names the same base on every machine, and PEFT and
        AdapterHub load it as before (they take the base model as given)."""
        self.save(model, folder)
        if self.base_field is None:
            return
        for name in ("adapter_config.json", "head_config.json"):  # an AdapterHub head names the base model too
            if (folder / name).exists():
                write_json(folder / name, {**read_json(folder / name), self.base_field: base})

    def trainable(self, model: Any) -> dict[str, Any]:
        return {n: p for n, p in model.named_parameters() if p.requires_grad}


METHODS: Registry[Method] = Registry("method", MethodError, group="methods")
register = METHODS.register
get_method = METHODS.get_or_raise


def init_seed(base_model: str, method: str, options: dict[str, Any]) -> int:
    """A seed that depends only on what defines the module's shape and meaning."""
    key = json.dumps({"base": base_model, "method": method, "options": options}, sort_keys=True, default=str)
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)


def fingerprint(params: dict[str, Any]) -> str:
    """sha256 over the initial trainable tensors (names and bytes), in name order."""
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(params[name].detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()


# every method file of this package registers itself; then installed plugins (entry points `langarith.methods`)
METHODS.discover(__name__)
