"""Paper 1's Kronecker adapter: ΔW = scale · A ⊗ B with A of a given shape (`shape`: A's rows × columns, paper 1
used 32 × 16) and B full ((out / rows) × (in / columns)), both trained; every targeted layer's weight (out × in,
as torch stores it) must divide by A's shape.

It is a LoKr module (PEFT's `lokr_w1` = A, `lokr_w2` = B), trained through PEFT and saved as a PEFT LoKr folder,
so langarith reads, composes and merges it as any LoKr module. PEFT's LoKr builds w1 from one `decompose_factor`
for both sides of a layer, so it can give A only a square shape (f × f, w2 full once r ≥ half of w2's larger
side): for a square `shape` the folder is a plain PEFT LoKr folder that PEFT loads unchanged; for another shape
(32 × 16) the layers are re-sized here after PEFT wraps them, and PEFT's own loader refuses the folder (it would
re-derive a square w1) — langarith's in-memory merge (`langarith.apply`, the evaluators, `langarith export
--merge`) takes it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

from langarith.methods import MethodError, register
from langarith.methods.lokr import LoKr
from langarith.models import attention_targets

PAPER_SHAPE = [32, 16]  # paper 1 (PaLM 2-S): A ∈ R^{32×16}


@register
class Kronecker(LoKr):
    name = "kronecker"
    defaults: ClassVar[dict[str, Any]] = {"shape": PAPER_SHAPE, "scale": 1.0, "targets": None, "dropout": 0.0}

    def options(self, given: dict[str, Any]) -> dict[str, Any]:
        options = super().options(given)
        options["shape"] = kron_shape(options["shape"])
        scale = options["scale"]
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
            raise MethodError(f"kronecker scale must be a positive number, got {scale!r}")
        return options

    def attach(self, model: Any, options: dict[str, Any], family: str, lang_module: Path | None = None) -> Any:
        from peft import LoKrConfig, get_peft_model

        if lang_module is not None:
            raise MethodError("stacking on a language module (MAD-X) needs --method bottleneck")
        targets = list(options["targets"] or attention_targets(model))
        options["targets"] = targets
        rows, cols = kron_shape(options["shape"])
        sizes = _target_sizes(model, targets)
        for name, (out, inp) in sizes.items():
            if out % rows or inp % cols:
                raise MethodError(f"kronecker shape {rows}×{cols} does not divide layer {name} ({out}×{inp}, out × "
                                  "in): choose a shape whose sides divide every targeted layer "
                                  "(--kron-shape ROWSxCOLS)")
        # r: PEFT keeps w2 whole from half its larger side on (alpha = r · scale)
        rank = max(math.ceil(max(out // rows, inp // cols) / 2) for out, inp in sizes.values())
        config = LoKrConfig(r=rank, alpha=rank * float(options["scale"]), target_modules=targets,
                            decompose_factor=rows if rows == cols else -1, module_dropout=float(options["dropout"]))
        try:
            wrapped = get_peft_model(model, config)
        except (ValueError, TypeError) as err:
            raise MethodError(f"kronecker on this {model.config.model_type} model with targets "
                              f"{', '.join(targets)}: {str(err).rstrip('. ')}. Choose targets among its Linear "
                              "layers") from err
        for layer in _lokr_layers(wrapped):
            _resize(layer, rows, cols)
        return wrapped


def kron_shape(value: Any) -> list[int]:
    """A's shape as [rows, columns], from two whole numbers (a list or tuple) or a string "32x16"."""
    parts = value.lower().replace("×", "x").split("x") if isinstance(value, str) else value
    shape = [_whole(p) for p in parts] if isinstance(parts, list | tuple) and len(parts) == 2 else []
    if len(shape) != 2 or None in shape or min(shape) < 1:  # type: ignore[type-var]
        raise MethodError(f"kronecker shape must be two whole numbers of at least 1 (A's rows × columns, e.g. "
                          f"[32, 16] or 32x16), got {value!r}")
    return shape  # type: ignore[return-value]


def _whole(part: Any) -> int | None:
    if isinstance(part, str) and part.strip().isdigit():
        return int(part)
    return part if isinstance(part, int) and not isinstance(part, bool) else None


def _target_sizes(model: Any, targets: list[str]) -> dict[str, tuple[int, int]]:
    """(out, in) of every layer PEFT would wrap for `targets` (named by their last part), Linear layers only."""
    import torch

    sizes: dict[str, tuple[int, int]] = {}
    for name, layer in model.named_modules():
        if name.rsplit(".", 1)[-1] not in targets:
            continue
        if not isinstance(layer, torch.nn.Linear):
            raise MethodError(f"kronecker adapts Linear layers; {name} is a {type(layer).__name__}: choose targets "
                              "among the model's Linear layers")
        sizes[name] = (layer.out_features, layer.in_features)
    if not sizes:
        raise MethodError(f"no layer of this {model.config.model_type} model is named {', '.join(targets)}: choose "
                          "targets among its Linear layers")
    return sizes


def _lokr_layers(model: Any) -> list[Any]:
    from peft.tuners.lokr.layer import LoKrLayer

    return [m for m in model.modules() if isinstance(m, LoKrLayer)]


def _resize(layer: Any, rows: int, cols: int) -> None:
    """Give every adapter of a PEFT LoKr layer w1 = A (rows × cols, zeros) and a whole w2 = B (kaiming-uniform, as
    PEFT starts w2), where PEFT made other factors; a layer PEFT already made so is left as it is."""
    import torch

    base = layer.get_base_layer()
    wanted = {"lokr_w1": (rows, cols), "lokr_w2": (base.out_features // rows, base.in_features // cols)}
    for adapter in list(layer._available_adapters):
        if all(adapter in getattr(layer, k) and tuple(getattr(layer, k)[adapter].shape) == s
               for k, s in wanted.items()):
            continue
        like = next(getattr(layer, k)[adapter] for k in layer.adapter_layer_names if adapter in getattr(layer, k))
        for key in layer.adapter_layer_names:
            if adapter in getattr(layer, key):
                del getattr(layer, key)[adapter]
        w1 = torch.zeros(wanted["lokr_w1"], dtype=like.dtype, device=like.device)
        w2 = torch.empty(wanted["lokr_w2"], dtype=like.dtype, device=like.device)
        torch.nn.init.kaiming_uniform_(w2, a=math.sqrt(5))
        layer.lokr_w1[adapter] = torch.nn.Parameter(w1)
        layer.lokr_w2[adapter] = torch.nn.Parameter(w2)
