"""The node side of an offline bundle: stage and verify the parts that arrive, install what the node lacks,
run the bundled experiments against a deadline, pack the results into a few files a transfer brings back.

It travels in every bundle next to `run.sh` and runs before langarith is installed, so it uses the standard
library only (and `packaging`, which pip vendors). langarith imports it too (`langarith unpack`, the bundle
builder): parts, verification and packing have one implementation on both sides.

    python3 node.py stage                           # after each transfer: keep the parts that arrived
    python3 node.py run --deadline 540 --out DIR    # verify, install, convert models, run, pack into DIR
    python3 node.py pack FOLDER... --out DIR        # results + modules → ≤ 8 files of ≤ 16 MiB
    python3 node.py unpack DIR --into results       # the reverse, on the machine the files came back to
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

MIB = 1 << 20
PART_SUFFIX = ".part"
RESULTS_MANIFEST = "results-manifest.json"
RESULTS_ARCHIVE = "results.tar.gz"
HERE = Path(__file__).resolve().parent


class NodeError(Exception):
    """A part is missing or corrupt, an install or check failed, or a limit cannot be met."""


def say(message: str) -> None:
    print(f"[langarith node {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- parts ------------------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def split(source: Path, out_dir: Path, name: str, part_bytes: int) -> list[dict]:
    """Cut `source` into `name.partNN` files of at most `part_bytes` each; returns their records."""
    if part_bytes < 1:
        raise NodeError(f"parts must hold at least one byte, not {part_bytes}")
    count = max(1, -(-source.stat().st_size // part_bytes))
    width, records = max(2, len(str(count))), []
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as f:
        for i in range(count):
            part, data = out_dir / f"{name}{PART_SUFFIX}{i + 1:0{width}d}", f.read(part_bytes)
            part.write_bytes(data)
            records.append({"name": part.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return records


def verify(path: Path, record: dict) -> None:
    if not path.is_file():
        raise NodeError(f"{record['name']} is missing from {path.parent}; transfer it again")
    if path.stat().st_size != record["bytes"] or sha256_of(path) != record["sha256"]:
        raise NodeError(f"{path} is corrupt (its size or sha256 differs from the manifest); transfer it again")


def join(folder: Path, records: list[dict], out: Path, whole: dict) -> Path:
    """The parts in `folder`, each verified, joined into `out`, verified as a whole."""
    for record in records:
        verify(folder / record["name"], record)
    digest, tmp = hashlib.sha256(), out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as dst:
        for record in records:
            with open(folder / record["name"], "rb") as src:
                for block in iter(lambda src=src: src.read(1 << 22), b""):
                    digest.update(block)
                    dst.write(block)
    if digest.hexdigest() != whole["sha256"]:
        tmp.unlink()
        raise NodeError(f"the parts in {folder} join into something other than what was split; transfer them again")
    os.replace(tmp, out)
    return out


def extract(archive: Path, into: Path) -> list[str]:
    """Unpack a tar archive safely (no absolute paths, links or `..` out of `into`); returns its top folders."""
    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            target = (root / m.name).resolve()
            if not (m.isfile() or m.isdir()) or (target != root and root not in target.parents):
                raise NodeError(f"{archive} holds {m.name!r}, which would land outside {into}; it is not ours")
        if hasattr(tarfile, "data_filter"):  # Python ≥ 3.11.4 checks again, and stops warning
            tar.extractall(into, members=members, filter="data")
        else:
            tar.extractall(into, members=members)
    return sorted({m.name.split("/")[0] for m in members})


# --- the bundle on the node --------------------------------------------------------------------------------
def load_manifest(head: Path = HERE) -> dict:
    path = head / "manifest.json"
    if not path.is_file():
        raise NodeError(f"{path} is missing: copy run.sh, node.py and manifest.json of the bundle together")
    return json.loads(path.read_text(encoding="utf-8"))


def stage_dir(manifest: dict, given: str | None = None) -> Path:
    root = given or os.environ.get("LANGARITH_STAGE") or os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                                     "langarith-stage")
    return Path(root) / manifest["id"]


def stage(manifest: dict, stage_root: Path, sources: list[Path]) -> list[str]:
    """Move verified parts found in `sources` into the stage; returns the names still missing."""
    parts = stage_root / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    for record in manifest["parts"]:
        if (parts / record["name"]).is_file():
            continue
        for folder in sources:
            found = folder / record["name"]
            if found.is_file():
                verify(found, record)
                shutil.move(str(found), str(parts / record["name"]))
                break
    missing = [r["name"] for r in manifest["parts"] if not (parts / r["name"]).is_file()]
    say(f"stage {stage_root}: {len(manifest['parts']) - len(missing)} of {len(manifest['parts'])} parts"
        + (f"; missing {', '.join(missing)}" if missing else "; all here"))
    return missing


def unpack_payload(manifest: dict, stage_root: Path) -> Path:
    """Join and extract the payload once (a marker file says it was done)."""
    payload = stage_root / "payload"
    if (payload / ".complete").is_file():
        return payload
    started = time.time()
    joined = join(stage_root / "parts", manifest["parts"], stage_root / "payload.tar", manifest["payload"])
    shutil.rmtree(payload, ignore_errors=True)
    extract(joined, payload)
    joined.unlink()
    if (payload / "data.tar.xz").is_file():
        extract(payload / "data.tar.xz", stage_root / "data")
    (payload / ".complete").write_text("ok\n", encoding="utf-8")
    say(f"payload verified and unpacked in {time.time() - started:.1f} s")
    return payload


def _packaging():
    try:
        from packaging.requirements import Requirement
        from packaging.version import Version
    except ImportError:  # pip vendors it
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.version import Version
    return Requirement, Version


def installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def wheels_to_install(manifest: dict) -> list[dict]:
    """The bundled wheels this Python lacks, or has at a version our requirements exclude."""
    Requirement, _ = _packaging()
    chosen = []
    for wheel in manifest["wheels"]:
        have = installed_version(wheel["name"])
        wanted = Requirement(f"{wheel['name']}{wheel['requires']}")
        if wheel.get("always") or have is None or not wanted.specifier.contains(have, prereleases=True):
            chosen.append({**wheel, "node_has": have})
    return chosen


def install(manifest: dict, stage_root: Path, payload: Path) -> Path:
    """pip-install (no index, no dependencies) the wheels the node needs into `<stage>/site`, once."""
    site = stage_root / "site"
    done = stage_root / "installed.json"
    if done.is_file():
        return site
    started = time.time()
    chosen = wheels_to_install(manifest)
    for wheel in (w for w in chosen if w["node_has"] and not w.get("always")):
        say(f"{wheel['name']} {wheel['node_has']} on the node does not satisfy {wheel['requires']}: "
            f"{wheel['version']} goes first on the path")
    if chosen:
        files = [str(payload / "wheels" / w["file"]) for w in chosen]
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
               "--disable-pip-version-check", "--upgrade", "--target", str(site), *files]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise NodeError(f"pip could not install the bundled wheels into {site}: {proc.stderr.strip()[-800:]}")
    problems = check(site, manifest.get("not_needed", []))
    if problems:
        raise NodeError("the environment does not satisfy langarith's requirements after the install: "
                        + "; ".join(problems[:8]))
    done.write_text(json.dumps([w["file"] for w in chosen], indent=1) + "\n", encoding="utf-8")
    skipped = len(manifest["wheels"]) - len(chosen)
    say(f"installed {len(chosen)} of {len(manifest['wheels'])} bundled wheels into {site} in "
        f"{time.time() - started:.1f} s" + (f" ({skipped} on the node at fitting versions)" if skipped else "")
        + "; requirements checked")
    return site


def check(site: Path, not_needed: list[str]) -> list[str]:
    """Requirements of langarith (transitively, torch's own excepted) that this Python with `site` first on
    its path does not meet, each as one line; run in a fresh interpreter so that the prefix wins."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import node; "
            "print(json.dumps(node.unmet('langarith', set(json.loads(sys.argv[2])))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, str(site), json.dumps(not_needed)], capture_output=True,
                          text=True, env=env)
    if proc.returncode:
        return [f"the check itself failed: {proc.stderr.strip()[-400:]}"]
    return json.loads(proc.stdout)


def unmet(root: str, not_needed: set[str]) -> list[str]:
    """Walk `root`'s requirements as installed (markers for this Python, no extras); list what is missing or
    at a version outside its requirement. torch's own dependencies are the node's business."""
    from importlib.metadata import PackageNotFoundError, distribution

    Requirement, _ = _packaging()
    problems, seen, todo = [], set(), [root]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            if req.name.lower().replace("_", "-") in not_needed:
                continue
            have = installed_version(req.name)
            if have is None:
                problems.append(f"{req.name} is missing (needed by {name})")
            elif not req.specifier.contains(have, prereleases=True):
                problems.append(f"{req.name} {have} does not satisfy {req} (needed by {name})")
            elif req.name.lower() != "torch":
                todo.append(req.name)
    return problems


def node_env(stage_root: Path, site: Path, source: Path | None) -> dict:
    paths = [str(source)] if source else []
    paths += [str(site), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            "LANGARITH_DATA": str(stage_root / "data"), "LANGARITH_CACHE": str(stage_root / "cache"),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "PIP_NO_INDEX": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


def prepare_models(manifest: dict, env: dict) -> None:
    """Convert the default models the configs use (once; later calls find them in the cache)."""
    if not manifest.get("models"):
        return
    started = time.time()
    code = "import sys; from langarith import models; [models.resolve(m) for m in sys.argv[1:]]"
    proc = subprocess.run([sys.executable, "-c", code, *manifest["models"]], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise NodeError(f"converting {', '.join(manifest['models'])} failed: {proc.stderr.strip()[-800:]}")
    say(f"models ready ({', '.join(manifest['models'])}) in {time.time() - started:.1f} s")


def measure(benchmark: Path, into: Path, env: dict, limit: float) -> None:
    """The node's own rates before the configs (`benchmarks/gpu_throughput.py`), its JSON line kept in `into`."""
    try:
        out = subprocess.run([sys.executable, str(benchmark), "--bf16"], capture_output=True, text=True, env=env,
                             timeout=limit, cwd=benchmark.parent, check=True).stdout.splitlines()
        into.mkdir(parents=True, exist_ok=True)
        (into / "gpu_throughput.json").write_text(out[-1] + "\n", encoding="utf-8")
    except (OSError, IndexError, subprocess.SubprocessError) as err:  # absent, failed or late: said, not fatal
        say(f"throughput not measured: {err}")


def run(manifest: dict, stage_root: Path, deadline: float, results: Path, out: Path | None,
        source: Path | None, reserve: float = 20.0, least: float = 60.0, throughput: Path | None = None) -> int:
    """Everything after the transfers, within `deadline` seconds of now: install, convert, measure if asked, run
    each config (stopping cleanly at the deadline), then always pack what exists into `out`."""
    ends, failed = time.monotonic() + deadline, 0
    folders = [results / c["results"] for c in manifest["configs"]]
    try:
        payload = unpack_payload(manifest, stage_root)
        env = node_env(stage_root, install(manifest, stage_root, payload), source)
        prepare_models(manifest, env)
        if throughput is not None and folders:
            measure(throughput, folders[0], env, limit=max(0.0, min(180.0, ends - time.monotonic() - reserve - least)))
        for config in manifest["configs"]:
            left = ends - time.monotonic() - reserve
            if left < least:
                say(f"skip {config['name']}: {max(left, 0):.0f} s left before the deadline")
                continue
            log = results / config["results"] / "node.log"  # comes back with the results
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "langarith", "experiment", str(payload / config["file"]), "--budget",
                   config["budget"], "--out", str(results / config["results"]), "--deadline", f"{left:.0f}", "--quiet"]
            say(f"run {config['name']} at {config['budget']} with {left:.0f} s left")
            started = time.time()
            with open(log, "w", encoding="utf-8") as f:
                code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
            say(f"{config['name']}: exit {code} after {time.time() - started:.0f} s; log {log}\n  " + "\n  ".join(tail))
            failed += code != 0
    finally:
        if out is not None:
            pack([f for f in folders if f.is_dir()], out)
    return 1 if failed else 0


# --- results back ------------------------------------------------------------------------------------------
def _tar_bytes(size: int) -> int:
    return 512 + -(-size // 512) * 512


def _units(folder: Path) -> list[tuple[int, list[Path]]]:
    """What to bring back from one results folder, as (priority, files) units: the tables and plots first,
    then each trained module whole, then training checkpoints whole; leftovers of killed writes never."""
    units: dict[tuple[int, str], list[Path]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).parts
        if any(part.startswith(".") for part in rel):  # leftovers of killed writes, temporary files
            continue
        if rel[0] == "modules" and len(rel) > 2:
            priority = 3 if rel[1].endswith(".ckpt") else 1
            units.setdefault((priority, rel[1]), []).append(path)
        else:
            units.setdefault((0, str(path)), []).append(path)
    return [(priority, files) for (priority, _), files in units.items()]


def pack(folders: list[Path], out: Path, max_files: int = 8, file_bytes: int = 16 * MIB,
         total_bytes: int = 64 * MIB) -> dict:
    """Results folders as one gzipped tar in ≤ `max_files` − 1 parts of ≤ `file_bytes`, ≤ `total_bytes` in
    all, plus a manifest. What does not fit is left out whole, lowest value first (checkpoints, then modules;
    of a kind, later folders before earlier ones), and listed."""
    capacity = min((max_files - 1) * file_bytes, total_bytes - 256 * 1024)
    units = [(p, i, files) for i, folder in enumerate(folders) for p, files in _units(folder)]
    units.sort(key=lambda u: (u[0], u[1]))
    chosen, left_out, used = [], [], 1024
    for _, _, files in units:
        size = sum(_tar_bytes(f.stat().st_size) for f in files) + 1024 * len(files)  # headers of folders
        if used + size <= capacity:
            chosen.append(files)
            used += size
        else:
            left_out += [str(f) for f in files]
    out.mkdir(parents=True, exist_ok=True)
    archive = out / RESULTS_ARCHIVE
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for files in chosen:
            for f in files:
                owner = next(folder for folder in folders if folder in f.parents)
                tar.add(f, arcname=str(f.relative_to(owner.parent)))
    whole = {"bytes": archive.stat().st_size, "sha256": sha256_of(archive)}
    parts = split(archive, out, RESULTS_ARCHIVE, file_bytes)
    archive.unlink()
    record = {"archive": RESULTS_ARCHIVE, "whole": whole, "parts": parts, "folders": [f.name for f in folders],
              "left_out": left_out}
    (out / RESULTS_MANIFEST).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    say(f"packed {len(folders)} results folders into {len(parts)} part(s) of {whole['bytes'] / MIB:.1f} MiB in "
        f"{out}" + (f"; left out {len(left_out)} files that did not fit" if left_out else ""))
    return record


def unpack(found: Path, into: Path, overwrite: bool = False) -> list[str]:
    """The results folders packed by `pack`, from the folder holding its files, into `into` (over folders of
    the same names already there only with `overwrite`: their files of the same names are replaced)."""
    record_path = found / RESULTS_MANIFEST
    if not record_path.is_file():
        raise NodeError(f"{found} has no {RESULTS_MANIFEST}; pass the folder the packed results came back in")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if not overwrite and (there := [f for f in record.get("folders", []) if (into / f).exists()]):
        raise NodeError(f"{into} already holds {', '.join(there)}; pass --overwrite to unpack over it, or --into "
                        "another folder")
    into.mkdir(parents=True, exist_ok=True)
    archive = join(found, record["parts"], into / f".{RESULTS_ARCHIVE}", record["whole"])
    try:
        return extract(archive, into)
    finally:
        archive.unlink()


# --- command line --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.sh", description="langarith offline bundle, node side")
    sub = parser.add_subparsers(dest="command", required=True)
    p_stage = sub.add_parser("stage", help="keep the parts that arrived (run after each transfer)")
    p_run = sub.add_parser("run", help="verify, install, convert, run the configs, pack the results")
    for p in (p_stage, p_run):
        p.add_argument("--stage", help="where parts and the install live ($LANGARITH_STAGE, /tmp/langarith-stage)")
    p_run.add_argument("--deadline", type=float, required=True, help="seconds from now by which all is packed")
    p_run.add_argument("--results", help="results folder (default <stage>/results); one with an earlier run continues")
    p_run.add_argument("--out", default=os.environ.get("OUT"), help="where the packed files go (default $OUT)")
    p_run.add_argument("--source", help="a langarith source tree (…/src) to use instead of the bundled wheel")
    p_run.add_argument("--throughput", help="benchmarks/gpu_throughput.py: run first (≤ 3 min), kept in results")
    p_pack = sub.add_parser("pack", help="results folders → ≤ 8 files of ≤ 16 MiB")
    p_pack.add_argument("folders", nargs="+")
    p_pack.add_argument("--out", required=True)
    p_unpack = sub.add_parser("unpack", help="packed files → results folders")
    p_unpack.add_argument("found")
    p_unpack.add_argument("--into", required=True)
    p_unpack.add_argument("--overwrite", action="store_true", help="unpack over results folders of the same names")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            pack([Path(f) for f in args.folders], Path(args.out))
            return 0
        if args.command == "unpack":
            say("unpacked " + ", ".join(unpack(Path(args.found), Path(args.into), args.overwrite)))
            return 0
        manifest = load_manifest()
        root = stage_dir(manifest, args.stage)
        missing = stage(manifest, root, [HERE, Path.cwd()])
        if args.command == "stage":
            return 0
        if missing:
            raise NodeError(f"{len(missing)} part(s) have not arrived: {', '.join(missing)}")
        results = Path(args.results) if args.results else root / "results"
        return run(manifest, root, args.deadline, results, Path(args.out) if args.out else None,
                   Path(args.source).resolve() if args.source else None,
                   throughput=Path(args.throughput).resolve() if args.throughput else None)
    except NodeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
