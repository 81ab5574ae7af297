"""The tiny random test models: a 2-layer Llama (`--model tiny`) and a 2-layer BERT (`--model tiny-encoder`)
with a 400-piece BPE tokenizer trained on a few hundred sentences of a local Tatoeba, each built once into
the cache (seed 0). Smoke runs of the configs and CI use them: their numbers mean nothing, the path through
training, composition and evaluation is the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langarith.core.paths import cache_dir
from langarith.data import is_hub, local

TINY = "tiny"  # a tiny random decoder for smoke runs of configs and CI: numbers mean nothing, the path is real
TINY_ENCODER = "tiny-encoder"  # the same for encoders (MAD-X configs)


def tiny_tokenizer(folder: Path, vocab_size: int = 400) -> Any:
    """A small BPE tokenizer trained on a few hundred sentences of a local Tatoeba copy (or a pangram when there
    is none), saved as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers import models as tokenizer_models
    from transformers import PreTrainedTokenizerFast

    lines: list[str] = []
    tatoeba = local("tatoeba")
    for name in ("tatoeba.por-eng.por", "tatoeba.por-eng.eng", "tatoeba.swh-eng.swh"):
        path = tatoeba / name if tatoeba is not None and not is_hub(tatoeba) else None
        if path is not None and path.exists():
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

    folder = cache_dir("models", write=False) / name
    if (folder / "config.json").exists():  # built before: read, even from a read-only cache
        return folder
    folder = cache_dir("models") / name
    with FileLock(str(folder) + ".lock"):
        if not (folder / "config.json").exists():
            tok = tiny_tokenizer(folder)
            torch.manual_seed(0)
            make(tok).save_pretrained(folder)
    return folder
