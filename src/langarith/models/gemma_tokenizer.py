"""The default decoder's tokenizer, rebuilt from the GGUF metadata as what it was before llama.cpp flattened
it: a SentencePiece BPE model with byte fallback (`tokenizer.model`) and an equivalent fast `tokenizers` BPE
(`tokenizer.json`), checked against SentencePiece itself before the converted folder is published.
transformers 4.57's own GGUF tokenizer conversion builds a Unigram model that splits words into characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langarith.models.convert_once import DefaultModelError

# Text that exercises every path of the tokenizer (merges, user-defined whitespace runs, byte
# fallback, several scripts); the fast tokenizer must agree with SentencePiece on all of it.
TOKENIZER_PROBES = (
    "Hello world! The capital of France is Paris.",
    " the and language of a  b   c\n\n\tend  ",
    "Ça coûte 3,50 € — naïve façade, Straße, São Paulo, Łódź.",
    "Привет, как дела? Мова і культура.",
    "مرحبا بالعالم، هذه جملة عربية.",
    "नमस्ते दुनिया, यह हिंदी वाक्य है।",
    "今日は良い天気ですね。这是一个中文句子。안녕하세요 세계",
    "Emoji 😀👍🏽🏳️‍🌈 and digits 1234567890, 3.14159, -42",
    "def f(x):\n    return x ** 2  # code\r\n<table><tr>x</tr></table>",
    "ሰላም ዓለም ⵜⴰⵎⴰⵣⵉⵖⵜ ꯃꯩꯇꯩ 𠜎𠜱 \u200b\u00a0zero-width",
    "aaaaaaaa ........ !!!!!!!! ———— ーーーー ====",
)

_GGUF_TYPE_TO_SPM = {1: "NORMAL", 2: "UNKNOWN", 3: "CONTROL", 4: "USER_DEFINED", 5: "UNUSED", 6: "BYTE"}


@dataclass(frozen=True)
class GgufVocab:
    """The tokenizer as GGUF stores it (llama.cpp's SentencePiece export)."""

    tokens: list[str]
    scores: list[float]
    types: list[int]
    bos_id: int
    eos_id: int
    unk_id: int
    pad_id: int
    add_bos: bool
    add_eos: bool


def spm_pieces(vocab: GgufVocab) -> list[tuple[str, float, str]]:
    """(piece, score, SentencePiece type) as in the original `tokenizer.model`.

    llama.cpp changed two things on export that are undone here: user-defined pieces had their
    '▁' turned into spaces ("  " is really the whitespace-run piece "▁▁"), and the unknown piece
    became a control token (SentencePiece needs exactly one UNKNOWN piece).
    """
    pieces = []
    for index, (token, score, kind) in enumerate(zip(vocab.tokens, vocab.scores, vocab.types, strict=True)):
        spm_type = _GGUF_TYPE_TO_SPM.get(kind)
        if spm_type is None:
            raise DefaultModelError(f"token {index} ({token!r}) has the unknown GGUF token type {kind}")
        if index == vocab.unk_id:
            spm_type = "UNKNOWN"
        elif spm_type == "UNKNOWN":
            spm_type = "CONTROL"
        if spm_type == "USER_DEFINED":
            token = token.replace(" ", "▁")
        pieces.append((token, score, spm_type))
    return pieces


def sentencepiece_proto(vocab: GgufVocab) -> bytes:
    """A serialized SentencePiece ModelProto: BPE, byte fallback, identity normalisation, spaces
    escaped to '▁' and no dummy prefix, as Gemma's tokenizer is trained and used."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError as err:
        raise DefaultModelError(
            "rebuilding the default model's tokenizer needs SentencePiece: run `pip install sentencepiece protobuf`"
        ) from err

    proto = pb.ModelProto()
    piece_type = pb.ModelProto.SentencePiece.Type
    for token, score, spm_type in spm_pieces(vocab):
        piece = proto.pieces.add()
        piece.piece, piece.score, piece.type = token, score, piece_type.Value(spm_type)
    trainer = proto.trainer_spec
    trainer.model_type = pb.TrainerSpec.ModelType.Value("BPE")
    trainer.vocab_size = len(vocab.tokens)
    trainer.byte_fallback = True
    trainer.split_digits = True
    trainer.allow_whitespace_only_pieces = True
    trainer.unk_id, trainer.bos_id, trainer.eos_id = vocab.unk_id, vocab.bos_id, vocab.eos_id
    trainer.pad_id = vocab.pad_id
    trainer.unk_piece, trainer.bos_piece = vocab.tokens[vocab.unk_id], vocab.tokens[vocab.bos_id]
    trainer.eos_piece, trainer.pad_piece = vocab.tokens[vocab.eos_id], vocab.tokens[vocab.pad_id]
    normalizer = proto.normalizer_spec
    normalizer.name = "identity"
    normalizer.add_dummy_prefix = False
    normalizer.remove_extra_whitespaces = False
    normalizer.escape_whitespaces = True
    return proto.SerializeToString()


def bpe_merges(pieces: list[tuple[str, float, str]]) -> list[tuple[str, str]]:
    """Merge rules equivalent to SentencePiece BPE encoding.

    SentencePiece repeatedly merges the adjacent pair whose concatenation is the best-scoring
    *normal* piece; a rank-ordered merge list reproduces that when every split of a normal piece
    into two normal pieces is ranked by the score of the whole. Control, byte and user-defined
    pieces are never merge results (the latter are matched whole before BPE runs).
    """
    normal = {piece: (score, index) for index, (piece, score, kind) in enumerate(pieces) if kind == "NORMAL"}
    ranked = []
    for piece, (score, index) in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((-score, index, cut, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def fast_tokenizer(vocab: GgufVocab, proto_path: Path, max_length: int) -> Any:
    """A GemmaTokenizerFast whose `tokenizers` backend encodes exactly like SentencePiece on the
    proto at `proto_path` (which is kept as its slow `tokenizer.model`)."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers
    from tokenizers.models import BPE
    from transformers import GemmaTokenizerFast

    pieces = spm_pieces(vocab)
    ids = {piece: index for index, (piece, _, _) in enumerate(pieces)}
    backend = Tokenizer(BPE(ids, bpe_merges(pieces), unk_token=pieces[vocab.unk_id][0], fuse_unk=True,
                            byte_fallback=True, dropout=None))
    # SentencePiece escapes spaces and does not pre-split on them: merges may span a '▁'.
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    special = [AddedToken(p, special=True, normalized=False) for p, _, k in pieces if k in ("CONTROL", "UNKNOWN")]
    # User-defined pieces are matched whole, leftmost-longest, like SentencePiece's prefix matcher;
    # the whitespace runs ("▁▁", …) exist only after normalisation, so they match normalised text.
    user = [AddedToken(p, special=False, normalized="▁" in p) for p, _, k in pieces if k == "USER_DEFINED"]
    backend.add_special_tokens(special)
    backend.add_tokens(user)
    return GemmaTokenizerFast(
        tokenizer_object=backend,
        vocab_file=str(proto_path),
        bos_token=pieces[vocab.bos_id][0],
        eos_token=pieces[vocab.eos_id][0],
        unk_token=pieces[vocab.unk_id][0],
        pad_token=pieces[vocab.pad_id][0],
        add_bos_token=vocab.add_bos,
        add_eos_token=vocab.add_eos,
        clean_up_tokenization_spaces=False,
        model_max_length=max_length,
    )


def check_tokenizer(folder: Path, proto_bytes: bytes, texts: tuple[str, ...] = TOKENIZER_PROBES) -> None:
    """The saved fast tokenizer must match SentencePiece piece for piece and decode losslessly."""
    import sentencepiece
    from transformers import AutoTokenizer

    reference = sentencepiece.SentencePieceProcessor(model_proto=proto_bytes)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    for text in texts:
        ours = tokenizer(text, add_special_tokens=False)["input_ids"]
        theirs = reference.encode(text)
        if ours != theirs:
            raise DefaultModelError(
                f"the converted tokenizer disagrees with SentencePiece on {text!r}: {ours[:20]} vs {theirs[:20]}; "
                "this is a bug in langarith's converter, please report it with the versions of tokenizers "
                "and transformers"
            )
        if tokenizer.decode(ours) != text:
            raise DefaultModelError(f"the converted tokenizer does not decode {text!r} back to itself; please report")
    with_bos = tokenizer("Hello")["input_ids"]
    if with_bos[:1] != [tokenizer.bos_token_id]:
        raise DefaultModelError(f"the converted tokenizer does not prepend <bos> ({with_bos}); please report")


