"""A plain state dict: one `.safetensors` file (or `.bin`/`.pt`, read weights-only), or a folder
holding exactly one such file and no adapter config. Without a config there is no scaling or
rank to honour, so every tensor is combined element-wise."""

from __future__ import annotations

from pathlib import Path

from langarith.arith.formats import Format, register
from langarith.arith.formats.files import read_safetensors, read_torch_bin, sha256_of, write_safetensors
from langarith.arith.module import Module
from langarith.core.errors import ModuleFileError

WEIGHTS = "state_dict.safetensors"
_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@register
class StateDictFormat(Format):
    name = "safetensors"

    def detect(self, path: Path) -> bool:
        return _weights_file(path) is not None

    def read(self, path: Path) -> Module:
        weights = _weights_file(path)
        if weights is None:
            raise ModuleFileError(f"{path} holds no single .safetensors/.bin state dict")
        if weights.suffix == ".safetensors":
            tensors, stored_as, _ = read_safetensors(weights)
        else:
            tensors, stored_as = read_torch_bin(weights)
        if not tensors:
            raise ModuleFileError(f"{weights} holds no tensors")
        return Module(
            tensors=tensors,
            kind="state_dict",
            format=self.name,
            config={},
            stored_as=stored_as,
            source=path,
            sha256=sha256_of([weights]),
        )

    def write(self, module: Module, folder: Path, adapter_name: str, metadata: dict[str, str]) -> None:
        write_safetensors(folder / WEIGHTS, {**module.tensors, **module.extras}, module.stored_as, metadata)


def _weights_file(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix in _SUFFIXES else None
    if not path.is_dir() or (path / "adapter_config.json").exists():
        return None
    found = [p for p in path.iterdir() if p.suffix in _SUFFIXES]
    return found[0] if len(found) == 1 else None
