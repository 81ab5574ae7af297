"""The node side of a bundle: parts that never exceed their limit and join byte-identical, corrupt or
missing parts as clean errors, staging, and packing results into a few small files, most valuable first."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from langarith.offline import node

MIB = node.MIB


def _whole(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": node.sha256_of(path)}


@pytest.mark.parametrize("limit", [1, 4096, 333_333, 1_000_003, 2_000_000])
def test_parts_never_exceed_the_limit_and_join_byte_identical(tmp_path, limit):
    source = tmp_path / "payload.tar"
    data = os.urandom(1_000_003 if limit > 1 else 5000)
    source.write_bytes(data)
    parts = node.split(source, tmp_path / "parts", "payload", limit)
    assert all(r["bytes"] <= limit for r in parts) and sum(r["bytes"] for r in parts) == len(data)
    assert all((tmp_path / "parts" / r["name"]).stat().st_size == r["bytes"] for r in parts)
    assert len(parts) == -(-len(data) // limit)
    joined = node.join(tmp_path / "parts", parts, tmp_path / "joined", _whole(source))
    assert joined.read_bytes() == data


def test_a_corrupt_or_missing_part_is_a_clean_error(tmp_path):
    source = tmp_path / "payload.tar"
    source.write_bytes(os.urandom(10_000))
    parts = node.split(source, tmp_path / "parts", "payload", 3000)
    second = tmp_path / "parts" / parts[1]["name"]
    raw = bytearray(second.read_bytes())
    raw[100] ^= 0xFF
    second.write_bytes(bytes(raw))
    with pytest.raises(node.NodeError, match=r"payload\.part02 is corrupt .*transfer it again"):
        node.join(tmp_path / "parts", parts, tmp_path / "joined", _whole(source))
    second.unlink()
    with pytest.raises(node.NodeError, match=r"payload\.part02 is missing .*transfer it again"):
        node.join(tmp_path / "parts", parts, tmp_path / "joined", _whole(source))
    assert not (tmp_path / "joined").exists()


def test_stage_keeps_verified_parts_and_names_the_missing(tmp_path):
    source = tmp_path / "payload.tar"
    source.write_bytes(os.urandom(9000))
    parts = node.split(source, tmp_path / "made", "payload", 3000)
    manifest = {"id": "b1", "parts": parts}
    arrived = tmp_path / "arrived"
    arrived.mkdir()
    for record in parts[:2]:
        (tmp_path / "made" / record["name"]).rename(arrived / record["name"])
    root = node.stage_dir(manifest, str(tmp_path / "stage"))
    assert node.stage(manifest, root, [arrived]) == [parts[2]["name"]]
    (tmp_path / "made" / parts[2]["name"]).rename(arrived / parts[2]["name"])
    assert node.stage(manifest, root, [arrived]) == [] and not any(arrived.iterdir())
    assert sorted(p.name for p in (root / "parts").iterdir()) == [r["name"] for r in parts]


def _results(folder: Path) -> None:
    (folder / "modules" / "lang_pt_1").mkdir(parents=True)
    (folder / "modules" / "lang_en_2").mkdir(parents=True)
    (folder / "modules" / "lang_en_3.ckpt").mkdir(parents=True)
    (folder / "modules" / ".lang_xx.tmp-9").mkdir(parents=True)
    for name in ("results.md", "results.csv", "results.json", "cells.json", "lambda_pt.png"):
        (folder / name).write_text(f"{name}\n" * 100)
    (folder / "modules" / "lang_pt_1" / "adapter_model.safetensors").write_bytes(os.urandom(3 * MIB))
    (folder / "modules" / "lang_pt_1" / "langarith.json").write_text("{}")
    (folder / "modules" / "lang_en_2" / "adapter_model.safetensors").write_bytes(os.urandom(3 * MIB))
    (folder / "modules" / "lang_en_3.ckpt" / "checkpoint.pt").write_bytes(os.urandom(4 * MIB))
    (folder / "modules" / ".lang_xx.tmp-9" / "half-written").write_bytes(os.urandom(100))


def test_pack_fits_the_limits_and_leaves_out_the_least_valuable_whole(tmp_path):
    first, second = tmp_path / "res" / "a-full", tmp_path / "res" / "b-full"
    _results(first)
    _results(second)
    out = tmp_path / "out"
    record = node.pack([first, second], out, max_files=4, file_bytes=2 * MIB, total_bytes=8 * MIB)
    files = list(out.iterdir())
    assert len(files) <= 4 and all(f.stat().st_size <= 2 * MIB for f in files)
    assert sum(f.stat().st_size for f in files) <= 8 * MIB
    left = {str(Path(p).relative_to(tmp_path / "res")) for p in record["left_out"]}
    # room for 3 × 2 MiB: both folders' tables first, then a-full's first module (3 MiB); the next module, the
    # other folder's modules and the checkpoints (4 MiB) do not fit, and are left out whole
    assert left == {f"{f}/modules/{m}" for f in ("a-full", "b-full") for m in (
        "lang_pt_1/adapter_model.safetensors", "lang_pt_1/langarith.json", "lang_en_3.ckpt/checkpoint.pt")} | {
        "b-full/modules/lang_en_2/adapter_model.safetensors"}
    back = tmp_path / "back"
    assert node.unpack(out, back) == ["a-full", "b-full"]
    for name in ("results.md", "cells.json"):
        assert (back / "b-full" / name).read_text() == (second / name).read_text()
    kept = first / "modules" / "lang_en_2" / "adapter_model.safetensors"
    assert (back / "a-full" / "modules" / "lang_en_2" / "adapter_model.safetensors").read_bytes() == kept.read_bytes()
    assert not (back / "a-full" / "modules" / ".lang_xx.tmp-9").exists()  # leftovers of killed writes never travel
    assert not (back / "a-full" / "modules" / "lang_pt_1").exists()  # a module that did not fit is absent, not partial
    (back / "b-full" / "results.md").write_text("edited here")
    with pytest.raises(node.NodeError, match="already holds a-full, b-full; pass --overwrite"):
        node.unpack(out, back)
    assert (back / "b-full" / "results.md").read_text() == "edited here"
    assert node.unpack(out, back, overwrite=True) == ["a-full", "b-full"]
    assert (back / "b-full" / "results.md").read_text() == (second / "results.md").read_text()


def test_unpack_refuses_an_archive_that_writes_outside_its_folder(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    archive = tmp_path / "found" / node.RESULTS_ARCHIVE
    archive.parent.mkdir()
    archive.write_bytes(buffer.getvalue())
    parts = node.split(archive, archive.parent, node.RESULTS_ARCHIVE, 1 << 20)
    record = {"parts": parts, "whole": _whole(archive)}
    (archive.parent / node.RESULTS_MANIFEST).write_text(json.dumps(record))
    with pytest.raises(node.NodeError, match="outside"):
        node.unpack(archive.parent, tmp_path / "into")
    assert not (tmp_path / "escaped.txt").exists()


def test_the_nodes_throughput_is_measured_into_the_first_results_folder(tmp_path):
    bench = tmp_path / "bench.py"
    bench.write_text('import sys\nprint("loading…")\nprint(\'{"benchmark": "gpu_throughput", "args": "\' + '
                     'sys.argv[1] + \'"}\')\n')
    node.measure(bench, tmp_path / "results" / "first", dict(os.environ), limit=60)
    assert json.loads((tmp_path / "results" / "first" / "gpu_throughput.json").read_text()) == \
        {"benchmark": "gpu_throughput", "args": "--bf16"}
    node.measure(tmp_path / "absent.py", tmp_path / "other", dict(os.environ), limit=60)  # said, not raised
    assert not (tmp_path / "other").exists()
