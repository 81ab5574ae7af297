"""Module formats: one file per format, registered here; `load` detects, `save` writes atomically.

A format knows how to recognise a folder, read it into a `Module` with canonical tensor keys, write a
`Module` back so that the library that made it (PEFT, AdapterHub) loads it unchanged, and express a
LoRA of a new rank in its config (`delta` semantics and dense merges give one). That config is made here,
when such a module is saved, not by the arithmetic: the algebra stays below the formats. Every written
module also gets a `langarith.json` manifest and a README model card with its provenance.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langarith import __version__
from langarith.arith.cards import composed_card
from langarith.arith.formats.files import read_json, write_json
from langarith.arith.identity import BaseIdentity, recorded_base
from langarith.arith.module import Module
from langarith.core.atomic import atomic_folder
from langarith.core.errors import ModuleFileError, SemanticsError
from langarith.core.registry import Registry

MANIFEST = "langarith.json"


class Format(ABC):
    name: str

    @abstractmethod
    def detect(self, path: Path) -> bool:
        """Whether `path` is a module of this format (cheap: look at file names and config keys)."""

    @abstractmethod
    def read(self, path: Path) -> Module: ...

    @abstractmethod
    def write(self, module: Module, folder: Path, adapter_name: str, metadata: dict[str, str]) -> None:
        """Write `module` into the (empty, temporary) `folder`."""

    def lora_config(self, config: dict[str, Any], rank: int, alpha: float, targets: tuple[str, ...]) -> dict:
        raise SemanticsError(
            f"{self.name} modules carry no LoRA scaling, so --semantics delta cannot apply; use factor"
        )

    def config_of(self, module: Module) -> dict[str, Any]:
        """The config `module` is written (and loaded by its library) with: its own, or, where arithmetic gave it
        a new rank (`module.rewrite_config`), its input's rebuilt for that rank, alpha and targets."""
        if not module.rewrite_config:
            return module.config
        return self.lora_config(module.config, rank=int(module.rank or 0), alpha=float(module.alpha or 0.0),
                                targets=module.targets)


_FORMATS: Registry[Format] = Registry("module format", ModuleFileError, group="formats")
register = _FORMATS.register
get_format = _FORMATS.get_or_raise


def detect(path: str | Path) -> Format:
    """The format of a module folder or file, from its config and file names; no tensor is read."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModuleFileError(
            f"{path} does not exist. Pass a PEFT folder (adapter_config.json + adapter_model.safetensors), "
            "an AdapterHub folder (adapter_config.json + adapter.safetensors or pytorch_adapter.bin) "
            "or a .safetensors state dict"
        )
    if path.is_dir() and (path / "config.json").is_file() and not (path / "adapter_config.json").exists():
        raise ModuleFileError(f"{path} is a whole model folder (config.json and its weights, e.g. from full "
                              f"fine-tuning), not a module: use it as the model (--model {path})")
    for fmt in _FORMATS.values():
        if fmt.detect(path):
            return fmt
    found = sorted(p.name for p in path.iterdir())[:10] if path.is_dir() else [path.name]
    raise ModuleFileError(
        f"{path} is not a module langarith can read (found: {', '.join(found) or 'nothing'}). Expected a "
        "PEFT or AdapterHub folder with adapter_config.json, or a .safetensors state dict"
    )


def load(
    path: str | Path, *, name: str | None = None, language: str | None = None, role: str | None = None
) -> Module:
    """Read a module folder (PEFT, AdapterHub) or a plain safetensors state dict."""
    path = Path(path).expanduser()
    module = detect(path).read(path)
    manifest = path / MANIFEST if path.is_dir() else None
    info: dict[str, Any] = {}
    if manifest is not None and manifest.exists():
        info = read_json(manifest)
        module.language = info.get("language")
        module.role = info.get("role")
        module.provenance = info.get("provenance") or {}
        module.init_fingerprint = (info.get("init") or {}).get("fingerprint")
        module.training = training_record(info)
    module.base = _base(info, module.base_model, manifest)
    module.name = name or module.name
    module.language = language or module.language
    module.role = role or module.role
    return module


def _base(info: dict[str, Any], recorded: str | None, manifest: Path | None) -> BaseIdentity | None:
    """The base the manifest records (or, for a module written before it did, the one its config names)."""
    try:
        return recorded_base(info, recorded)
    except ValueError as err:
        raise ModuleFileError(f"{manifest}: its 'base' entry is not a base model record ({err}); restore it, or "
                              "delete the entry to fall back to the base its adapter_config.json names") from err


# What `inspect` shows of a training manifest; the manifest itself keeps everything (curves, versions…).
_TRAINING_KEYS = ("objective", "task", "data", "split", "examples", "sources", "steps", "tokens", "text_tokens",
                  "batch_size", "lr", "seed", "precision", "device", "resumed_at_steps", "wall_time_s", "command",
                  "call", "commit", "cwd")


def training_record(info: dict[str, Any]) -> dict[str, Any] | None:
    """The main facts of a langarith training manifest (None for a module langarith did not train)."""
    if "objective" not in info or "steps" not in info:
        return None
    record = {k: info[k] for k in _TRAINING_KEYS if info.get(k) not in (None, [], {})}
    model, method = info.get("model") or {}, info.get("method") or {}
    record["model"] = model.get("name")
    record["method"] = {"name": method.get("name"), **(method.get("options") or {})}
    if isinstance(record.get("sources"), list):
        record["sources"] = [s.get("spec") for s in record["sources"] if isinstance(s, dict)]
    heldout = info.get("heldout_loss") or {}
    if heldout.get("before") is not None:
        record["heldout_loss"] = {"before": heldout["before"], "after": heldout.get("after")}
    curve = info.get("loss_curve") or []
    if curve:
        record["loss_first_last"] = [curve[0], curve[-1]]
    return record


def save(
    module: Module,
    out: str | Path,
    *,
    provenance: dict[str, Any] | None = None,
    adapter_name: str | None = None,
    overwrite: bool = False,
    manifest: dict[str, Any] | None = None,
    protect: Iterable[Path] = (),
) -> Path:
    """Write `module` to `out` in its own format, plus manifest and model card, atomically; `protect` are the
    inputs it was made from, which `out` may not replace or touch."""
    if not isinstance(module, Module):
        if hasattr(module, "materialize"):  # a ModuleVector: its semantics are the caller's to choose
            raise SemanticsError(f"{module!r} is a composition, not yet a module: save its .materialize('factor') "
                                 "(element-wise on the factors, as the papers do) or .materialize('delta', rank=R) "
                                 "(the exact update, truncated to rank R)")
        raise ModuleFileError(f"save writes a Module (langarith.load, or a composition's .materialize()), not a "
                              f"{type(module).__name__}")
    out = Path(out).expanduser()
    provenance = provenance if provenance is not None else module.provenance
    name = adapter_name or _adapter_name(out)
    record = {
        "langarith_version": __version__,
        "format": module.format,
        "kind": module.kind,
        "base_model": module.base.portable if module.base else module.base_model,
        "base": module.base.to_json() if module.base else None,
        "language": module.language,
        "role": module.role,
        "provenance": provenance,
        "init": {"fingerprint": module.init_fingerprint} if module.init_fingerprint else None,
        **(manifest or {}),
    }
    metadata = {"langarith": json.dumps({"language": module.language, "role": module.role, **provenance})}
    with atomic_folder(out, overwrite=overwrite, protect=protect) as tmp:
        get_format(module.format).write(module, tmp, name, metadata)
        write_json(tmp / MANIFEST, record)
        (tmp / "README.md").write_text(composed_card(module, provenance, name, out.name), encoding="utf-8")
    return out


def _adapter_name(out: Path) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in out.name).strip("_")
    return cleaned or "composed"


# every format file registers itself (detection tries them in name order); then installed plugins
_FORMATS.discover(__name__)
