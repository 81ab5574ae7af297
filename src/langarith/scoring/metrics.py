"""Evaluation metrics and paired significance tests, on the 0–100 scale that papers' tables use.

Each metric delegates to the reference implementation the benchmark papers cite (scikit-learn,
seqeval, the SQuAD v1.1 script, rouge-score, sacrebleu), so that numbers are comparable with
published ones. The module is model-free: it imports without torch, and the scorers are imported
on first use so that `import langarith.scoring.metrics` stays instant.

Per-example variants (`squad_scores`, `rouge_scores`, `chrf_scores`) exist for the paired
bootstrap, which compares two systems on the same resampled examples.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from langarith.core.errors import LangarithError, UnknownLanguageError
from langarith.languages import langid
from langarith.languages.codes import macrolanguage, resolve

if TYPE_CHECKING:
    import numpy as np

    from langarith.languages.codes import Language

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class MetricError(LangarithError):
    """Metric inputs that cannot be scored: lengths differ, nothing to score, a missing tokenizer model."""


def _check_pair(
    gold: Sequence[object], pred: Sequence[object], what: str = "gold labels", other: str = "predicted labels"
) -> int:
    if len(gold) != len(pred):
        raise MetricError(f"{len(gold)} {what} but {len(pred)} {other}: they must be paired one to one")
    if len(gold) == 0:
        raise MetricError(f"nothing to score: {what} and {other} are empty")
    return len(gold)


# --- classification -------------------------------------------------------------------------


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Exact-match accuracy. Labels are compared as given: map free generations to labels first."""
    n = _check_pair(gold, pred)
    return 100.0 * sum(g == p for g, p in zip(gold, pred, strict=True)) / n


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Macro-F1 over `labels` (default: the gold labels), as the topic-classification papers report it.

    Restricting to gold labels keeps a decoder's invented labels from adding zero-F1 classes; they
    still cost recall of the gold class they replaced."""
    _check_pair(gold, pred)
    from sklearn.metrics import f1_score

    chosen = sorted(set(gold)) if labels is None else list(labels)
    if not chosen:
        raise MetricError("macro-F1 needs at least one label; `labels` is empty")
    return 100.0 * float(f1_score(list(gold), list(pred), average="macro", labels=chosen, zero_division=0))


# --- named entities ---------------------------------------------------------------------------

_ENTITY_PIECE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*(?:[_-][A-Za-z0-9]+)*)\s*:\s*(.*?)\s*$", re.DOTALL)


def parse_entities(text: str, types: Collection[str] | None = None) -> list[tuple[str, str]]:
    """Entities from a decoder's "PER: Ada Lovelace; LOC: London" (or "none") output.

    Generations are noisy, so malformed pieces are skipped rather than failing the whole example;
    newlines separate pieces like ";" does. With `types`, pieces of other types are skipped too
    (a "Note: ..." aside is not an entity)."""
    allowed = None if types is None else {t.upper() for t in types}
    found: list[tuple[str, str]] = []
    for piece in re.split(r"[;\n]", text):
        match = _ENTITY_PIECE.match(piece)
        if match is None:
            continue
        kind, span = match[1].upper(), " ".join(match[2].split())
        if not span or (allowed is not None and kind not in allowed):
            continue
        found.append((kind, span))
    return found


def tags_from_entities(words: list[str], ents: list[tuple[str, str]]) -> list[str]:
    """BIO tags over `words` for generated entities, so that seqeval can score decoders like taggers.

    An entity tags the first not-yet-tagged occurrence of its words (left to right), so a name
    generated twice tags two mentions. Entities whose words do not occur are dropped: they cannot be
    placed, and counting them would need a position."""
    tags = ["O"] * len(words)
    for kind, span in ents:
        tokens = span.split()
        k = len(tokens)
        if k == 0:
            continue
        for start in range(len(words) - k + 1):
            if words[start : start + k] == tokens and all(t == "O" for t in tags[start : start + k]):
                tags[start] = f"B-{kind}"
                tags[start + 1 : start + k] = [f"I-{kind}"] * (k - 1)
                break
    return tags


def entity_f1(gold_tags: list[list[str]], pred_tags: list[list[str]]) -> float:
    """Span-level F1 (seqeval's default CoNLL mode), the MasakhaNER / CoNLL-03 metric."""
    _check_pair(gold_tags, pred_tags, "gold sentences", "predicted sentences")
    for i, (g, p) in enumerate(zip(gold_tags, pred_tags, strict=True)):
        if len(g) != len(p):
            raise MetricError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags; tag the same words")
    from seqeval.metrics import f1_score

    return 100.0 * float(f1_score(gold_tags, pred_tags, zero_division=0))


def entity_counts(gold_tags: list[list[str]], pred_tags: list[list[str]]) -> np.ndarray:
    """Per sentence: [spans right, spans predicted, gold spans], found by seqeval's own span reader. Entity F1
    of any subset of sentences is `f1_from_counts` of their rows (seqeval never joins spans across sentences),
    so a paired bootstrap resamples 1,000 subsets in milliseconds instead of re-running seqeval on each."""
    _check_pair(gold_tags, pred_tags, "gold sentences", "predicted sentences")
    import numpy as np
    from seqeval.metrics.sequence_labeling import get_entities

    rows = []
    for g, p in zip(gold_tags, pred_tags, strict=True):
        gold, pred = set(get_entities(list(g))), set(get_entities(list(p)))
        rows.append((len(gold & pred), len(pred), len(gold)))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def f1_from_counts(counts: np.ndarray) -> float:
    """Micro entity F1 (0–100) from summed `entity_counts` rows: 2·right / (predicted + gold), 0 when nothing is
    right (seqeval's zero_division=0)."""
    right, predicted, gold = (int(x) for x in counts.sum(axis=0))
    return 200.0 * right / (predicted + gold) if right else 0.0


# --- extractive QA ----------------------------------------------------------------------------

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _squad_normalize(text: str) -> str:
    """SQuAD v1.1's normalize_answer, verbatim in effect: lower, drop punctuation, articles, extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _squad_f1(gold: str, pred: str) -> float:
    pred_tokens = _squad_normalize(pred).split()
    gold_tokens = _squad_normalize(gold).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(golds: Sequence[Sequence[str]], preds: Sequence[str]) -> tuple[list[float], list[float]]:
    """Per-example (EM, F1) lists on 0–100, each the best over the example's gold answers."""
    _check_pair(golds, preds, "gold answer lists", "predictions")
    ems, f1s = [], []
    for i, (answers, pred) in enumerate(zip(golds, preds, strict=True)):
        if isinstance(answers, str):
            raise MetricError(f"example {i}: gold answers must be a list of strings, got the string {answers!r}")
        if not answers:
            raise MetricError(f"example {i} has no gold answers; SQuAD scoring needs at least one")
        ems.append(100.0 * max(float(_squad_normalize(a) == _squad_normalize(pred)) for a in answers))
        f1s.append(100.0 * max(_squad_f1(a, pred) for a in answers))
    return ems, f1s


def squad_em_f1(golds: Sequence[Sequence[str]], preds: Sequence[str]) -> tuple[float, float]:
    """Exact match and token F1 as the official SQuAD v1.1 script computes them (XQuAD, TyDi-GoldP)."""
    ems, f1s = squad_scores(golds, preds)
    return sum(ems) / len(ems), sum(f1s) / len(f1s)


# --- summarisation and generation -------------------------------------------------------------


class _CallableTokenizer:
    """rouge-score takes a tokenizer *object* with a .tokenize method; this adapts a plain function."""
    def __init__(self, tokenize: Callable[[str], list[str]]) -> None:
        self._tokenize = tokenize

    def tokenize(self, text: str) -> list[str]:
        return list(self._tokenize(text))


def _rouge_scorer(tokenize: Callable[[str], list[str]] | None, kinds: Sequence[str]):
    from rouge_score import rouge_scorer

    if tokenize is None:
        return rouge_scorer.RougeScorer(list(kinds), use_stemmer=True)
    # With a tokenizer object rouge-score neither lowercases nor stems: pieces are compared as given.
    return rouge_scorer.RougeScorer(list(kinds), tokenizer=_CallableTokenizer(tokenize))


def rouge_scores(
    refs: Sequence[str],
    preds: Sequence[str],
    tokenize: Callable[[str], list[str]] | None = None,
    kind: str = "rouge2",
) -> list[float]:
    """Per-example ROUGE F-measure (0–100) of one kind, for the paired bootstrap."""
    _check_pair(refs, preds, "references", "predictions")
    if kind not in ROUGE_TYPES:
        raise MetricError(f"unknown ROUGE kind {kind!r}; use one of {', '.join(ROUGE_TYPES)}")
    scorer = _rouge_scorer(tokenize, [kind])
    return [100.0 * scorer.score(r, p)[kind].fmeasure for r, p in zip(refs, preds, strict=True)]


def rouge(
    refs: Sequence[str], preds: Sequence[str], tokenize: Callable[[str], list[str]] | None = None
) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure (0–100).

    The default English scorer keeps only [a-z0-9] tokens, so any non-Latin script scores 0 whatever
    the output; pass `tokenize` (e.g. `sentencepiece_tokenizer(...)`) for SentencePiece-ROUGE, as
    multilingual summarisation papers (XL-Sum) do."""
    n = _check_pair(refs, preds, "references", "predictions")
    scorer = _rouge_scorer(tokenize, ROUGE_TYPES)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for ref, pred in zip(refs, preds, strict=True):
        scores = scorer.score(ref, pred)
        for kind in ROUGE_TYPES:
            totals[kind] += scores[kind].fmeasure
    return {kind: 100.0 * total / n for kind, total in totals.items()}


def sentencepiece_tokenizer(model_file: str | Path) -> Callable[[str], list[str]]:
    """The pieces of a SentencePiece model, for ROUGE on scripts the English scorer cannot split."""
    path = Path(model_file).expanduser()
    if not path.is_file():
        raise MetricError(f"SentencePiece model {path} does not exist; pass the tokenizer's .model file")
    import sentencepiece

    try:
        processor = sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as exc:
        raise MetricError(f"{path} is not a SentencePiece model ({exc}); pass the tokenizer's .model file") from exc

    def pieces(text: str) -> list[str]:
        return list(processor.encode(text, out_type=str))

    return pieces


def rouge_tokenizer(spec: str | Path) -> Callable[[str], list[str]]:
    """SentencePiece-ROUGE's pieces from `spec`: a SentencePiece `.model` file, a tokenizer folder, or a Hugging
    Face tokenizer id — paper 1 scored ROUGE on mT5's SentencePiece pieces (`google/mt5-small`)."""
    path = Path(spec).expanduser()
    if path.is_file() or path.suffix == ".model":
        return sentencepiece_tokenizer(path)
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path) if path.is_dir() else str(spec))
    except (OSError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MetricError(f"cannot load ROUGE's tokenizer {str(spec)!r} ({why}); give a SentencePiece .model file, "
                          "a tokenizer folder, or a Hugging Face id (with network access or a filled HF cache)"
                          ) from exc
    return tokenizer.tokenize


def chrf(refs: Sequence[str], preds: Sequence[str]) -> float:
    """Corpus chrF (sacrebleu defaults: character 6-grams, β=2), the FLORES-200 generation metric."""
    _check_pair(refs, preds, "references", "predictions")
    from sacrebleu.metrics import CHRF

    return float(CHRF().corpus_score(list(preds), [list(refs)]).score)


def chrf_scores(refs: Sequence[str], preds: Sequence[str]) -> list[float]:
    """Sentence-level chrF, for the paired bootstrap (corpus chrF is not their mean)."""
    _check_pair(refs, preds, "references", "predictions")
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    return [float(metric.sentence_score(p, [r]).score) for r, p in zip(refs, preds, strict=True)]


# --- off-target generation --------------------------------------------------------------------


def _macro_named(lang: Language) -> str | None:
    """The macrolanguage a code names when it was written as one (`sw`, `ar`, `zh`), else None."""
    macro = lang.macrolanguage
    return macro if macro is not None and macro in lang.aliases else None


def _on_target(identified: str, target: Language) -> bool:
    try:
        found = resolve(identified)
    except UnknownLanguageError:  # py3langid's `zxx` (no linguistic content)
        return False
    if found.iso639_3 == target.iso639_3:
        return True
    # A macrolanguage label covers its members: `ar` for Egyptian Arabic text, and for a target
    # written as a macrolanguage (`ar`, `zh`) any member the identifier names is on target.
    found_macro, target_macro = _macro_named(found), _macro_named(target)
    return (found_macro is not None and found_macro == macrolanguage(target.iso639_3)) or (
        target_macro is not None and target_macro == macrolanguage(found.iso639_3)
    )


def off_target_rate(texts: Sequence[str], language: str) -> float | None:
    """Share (0–100) of non-empty generations that the offline identifier places in another language.

    None means "cannot judge": the identifier does not know `language`, or every generation is
    empty (emptiness is a failure of its own, not a wrong language). Identifiers answer with
    macrolanguage codes (`sw`), so a member language (`swh_Latn`) counts as on target."""
    if not langid.known(language):
        return None
    target = resolve(language)
    spoken = [t for t in texts if t.strip()]
    if not spoken:
        return None
    off = sum(not _on_target(langid.identify(t), target) for t in spoken)
    return 100.0 * off / len(spoken)


# --- paired significance ----------------------------------------------------------------------


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> float:
    """Exact two-sided McNemar p-value: a binomial test on the examples exactly one system got right."""
    _check_pair(correct_a, correct_b, "system A results", "system B results")
    only_a = sum(bool(a) and not bool(b) for a, b in zip(correct_a, correct_b, strict=True))
    only_b = sum(bool(b) and not bool(a) for a, b in zip(correct_a, correct_b, strict=True))
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, only_a + only_b, p=0.5).pvalue)


def _resample(n: int, samples: int, seed: int) -> np.ndarray:
    """One (samples × n) matrix of example indices, so both bootstrap functions see the same draws."""
    if n < 1:
        raise MetricError(f"the paired bootstrap needs at least one example, got n={n}")
    if samples < 1:
        raise MetricError(f"the paired bootstrap needs at least one resample, got samples={samples}")
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def _bootstrap_p(observed: float, differences: np.ndarray) -> float:
    """Two-sided p: twice the share of resamples that do not favour the observed winner (ties count
    against it, the conservative choice), capped at 1."""
    import numpy as np

    if observed == 0:
        return 1.0
    disagree = int(np.count_nonzero(differences * np.sign(observed) <= 0))
    return min(1.0, 2.0 * disagree / len(differences))


def paired_bootstrap(
    score_a: Callable[[np.ndarray], float],
    score_b: Callable[[np.ndarray], float],
    n: int,
    samples: int = 1000,
    seed: int = 0,
) -> float:
    """Paired bootstrap p-value (Koehn 2004) for corpus-level metrics that are not a mean of per-example
    scores (corpus chrF, entity F1): `score_x(indices)` scores system x on those examples."""
    import numpy as np

    draws = _resample(n, samples, seed)
    everything = np.arange(n)
    observed = float(score_a(everything)) - float(score_b(everything))
    differences = np.array([float(score_a(idx)) - float(score_b(idx)) for idx in draws])
    return _bootstrap_p(observed, differences)


def paired_bootstrap_mean(
    scores_a: Sequence[float], scores_b: Sequence[float], samples: int = 1000, seed: int = 0
) -> float:
    """`paired_bootstrap` for metrics that are a mean of per-example scores (accuracy, EM, F1, ROUGE),
    vectorised; same draws, hence same p, as `paired_bootstrap` with mean scorers."""
    n = _check_pair(scores_a, scores_b, "system A scores", "system B scores")
    import numpy as np

    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    draws = _resample(n, samples, seed)
    differences = a[draws].mean(axis=1) - b[draws].mean(axis=1)
    return _bootstrap_p(float(a.mean() - b.mean()), differences)
