"""File-level I/O shared by the formats: safetensors as numpy (bf16 included, without torch),
`.bin` pickles through `torch.load(weights_only=True)` only, and content hashes (atomic folders:
`langarith.core.atomic`)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from langarith.core.errors import ModuleFileError

# safetensors dtype tag -> numpy dtype; BF16 is held as float32 and converted at the edges.
_NP = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}
_TAG = {np.dtype(v): k for k, v in _NP.items()}


def require_regular(path: Path) -> Path:
    """A FIFO, device or folder under a weights or config name would block or fail deep inside a reader."""
    if path.exists() and not path.is_file():
        raise ModuleFileError(f"{path} is not a regular file; replace it with the module's saved file")
    return path


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Tensors, the dtypes numpy lacks (key -> 'BF16'), and the file's metadata."""
    from safetensors import SafetensorError, deserialize

    require_regular(path)
    try:
        raw = path.read_bytes()
        items = deserialize(raw)
        (header_len,) = struct.unpack("<Q", raw[:8])
        metadata = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
    except (SafetensorError, ValueError, struct.error, OSError) as err:
        raise ModuleFileError(f"{path} is not a readable safetensors file ({err}); re-save the module") from err
    tensors: dict[str, np.ndarray] = {}
    stored_as: dict[str, str] = {}
    for name, spec in items:
        tag, shape, data = spec["dtype"], spec["shape"], spec["data"]
        if tag == "BF16":
            bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
            tensors[name] = bits.view(np.float32).reshape(shape)
            stored_as[name] = "BF16"
        elif tag in _NP:
            # A read-only view of the bytes safetensors returned: inputs are never modified in place.
            tensors[name] = np.frombuffer(data, dtype=np.dtype(_NP[tag]).newbyteorder("<")).reshape(shape)
        else:
            raise ModuleFileError(f"{path}: tensor {name} has dtype {tag}, which langarith cannot read")
    return tensors, stored_as, metadata


def write_safetensors(
    path: Path, tensors: dict[str, np.ndarray], stored_as: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    from safetensors import TensorSpec, serialize_file

    stored_as = stored_as or {}
    buffers: list[np.ndarray] = []  # serialize_file reads raw pointers: keep every buffer alive
    specs: dict[str, TensorSpec] = {}
    for name, t in tensors.items():
        if stored_as.get(name) == "BF16":
            buf, dtype = _to_bf16(t), "bfloat16"
        else:
            buf = np.ascontiguousarray(t, dtype=t.dtype.newbyteorder("<"))
            dtype = np.dtype(_NP[_TAG[np.dtype(t.dtype)]]).name
        buffers.append(buf)
        specs[name] = TensorSpec(dtype=dtype, shape=list(t.shape), data_ptr=buf.ctypes.data, data_len=buf.nbytes)
    serialize_file(specs, str(path), metadata={"format": "pt", **(metadata or {})})
    del buffers


def _to_bf16(t: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits with round-to-nearest-even, as torch does."""
    bits = np.ascontiguousarray(t, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    rounded = np.where(np.isnan(t), 0x7FC0, rounded)
    return np.ascontiguousarray(rounded.astype("<u2"))


def read_torch_bin(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A pickled state dict, loaded with weights_only=True so no code in the file runs."""
    import torch

    require_regular(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError…
        raise ModuleFileError(
            f"{path} could not be loaded as a weights-only PyTorch file ({type(err).__name__}: {err}). "
            "langarith never unpickles arbitrary objects; re-save the module as safetensors"
        ) from err
    if not isinstance(state, dict):
        raise ModuleFileError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
    tensors, stored_as = {}, {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ModuleFileError(f"{path}: entry {name} is a {type(value).__name__}, not a tensor")
        if value.dtype == torch.bfloat16:
            stored_as[name] = "BF16"
            value = value.float()
        tensors[name] = value.detach().cpu().numpy().copy()
    return tensors, stored_as


def read_weights(folder: Path, safe_name: str, pickle_name: str
                 ) -> tuple[dict[str, np.ndarray], dict[str, str], Path]:
    """The folder's safetensors file, else its weights-only pickle: (tensors, stored_as, file read)."""
    safe, pickled = folder / safe_name, folder / pickle_name
    if safe.exists():
        tensors, stored_as, _ = read_safetensors(safe)
        return tensors, stored_as, safe
    if pickled.exists():
        tensors, stored_as = read_torch_bin(pickled)
        return tensors, stored_as, pickled
    raise ModuleFileError(f"{folder} has no {safe_name} (or {pickle_name}); the module folder is incomplete")


def read_json(path: Path) -> dict[str, Any]:
    require_regular(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ModuleFileError(f"{path} is missing") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModuleFileError(f"{path} is not valid JSON ({err}); the module folder is corrupt") from err
    if not isinstance(data, dict):
        raise ModuleFileError(f"{path} should hold a JSON object, found {type(data).__name__}")
    return data


def peek_config(folder: Path, config_name: str, weight_names: tuple[str, ...]) -> dict[str, Any] | None:
    """A folder's config for format detection: None when it is no candidate; {} when the config is
    unreadable but weights are there (so that `read` reports the corrupt file instead of "unknown format")."""
    cfg = folder / config_name
    if not (folder.is_dir() and cfg.exists()):
        return None
    try:
        return read_json(cfg)
    except ModuleFileError:
        return {} if any((folder / w).exists() for w in weight_names) else None


def json_number(x: float) -> int | float:
    """2.0 -> 2: configs read by PEFT/AdapterHub keep integer ranks and alphas as integers."""
    return int(x) if float(x).is_integer() else float(x)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def sha256_of(paths: list[Path]) -> str:
    """One digest over the given files (names and bytes), so a module folder has one fingerprint."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        require_regular(path)
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
