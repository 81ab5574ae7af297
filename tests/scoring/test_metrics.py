"""Metrics: hand-checked values, agreement with the reference scorers, and the significance tests."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from langarith.core.errors import LangarithError
from langarith.scoring import metrics
from langarith.scoring.metrics import MetricError

# --- import hygiene ---------------------------------------------------------------------------


def test_imports_without_torch_or_scorers() -> None:
    heavy = ("torch", "sklearn", "scipy", "seqeval", "rouge_score", "sacrebleu", "sentencepiece", "py3langid")
    code = f"import sys, langarith.scoring.metrics; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_metric_error_is_a_langarith_error() -> None:
    assert issubclass(MetricError, LangarithError)


# --- classification -------------------------------------------------------------------------


def test_accuracy_by_hand() -> None:
    assert metrics.accuracy(["a", "b", "c", "d"], ["a", "b", "c", "x"]) == 75.0
    assert metrics.accuracy(["a"], ["a"]) == 100.0


def test_accuracy_names_the_length_mismatch() -> None:
    with pytest.raises(MetricError, match=r"3 gold labels but 2 predicted labels"):
        metrics.accuracy(["a", "b", "c"], ["a", "b"])
    with pytest.raises(MetricError, match="empty"):
        metrics.accuracy([], [])


def test_macro_f1_by_hand() -> None:
    # a: P=1/2 R=1/2 F=1/2; b: P=2/3 R=1 F=4/5; c: never predicted, F=0.
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    assert metrics.macro_f1(gold, pred) == pytest.approx(100 * (0.5 + 0.8 + 0.0) / 3)


def test_macro_f1_ignores_invented_labels_but_they_cost_recall() -> None:
    assert metrics.macro_f1(["a", "b"], ["a", "zzz"]) == pytest.approx(50.0)
    assert metrics.macro_f1(["a", "b"], ["a", "zzz"], labels=["a", "b", "zzz"]) == pytest.approx(100 / 3)


def test_macro_f1_agrees_with_sklearn() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    gold = [str(x) for x in rng.integers(0, 4, 50)]
    pred = [str(x) for x in rng.integers(0, 5, 50)]
    expected = 100 * f1_score(gold, pred, average="macro", labels=sorted(set(gold)), zero_division=0)
    assert metrics.macro_f1(gold, pred) == pytest.approx(expected)


# --- named entities ---------------------------------------------------------------------------


def test_parse_entities_tolerates_noise() -> None:
    text = "PER: Ada  Lovelace;; junk ; loc :  New   York ;ORG:\nDATE: 1843"
    assert metrics.parse_entities(text) == [("PER", "Ada Lovelace"), ("LOC", "New York"), ("DATE", "1843")]
    assert metrics.parse_entities("none") == []
    assert metrics.parse_entities("  None. ") == []
    assert metrics.parse_entities("") == []


def test_parse_entities_can_keep_only_known_types() -> None:
    text = "Note: these are guesses; PER: Ada"
    assert metrics.parse_entities(text, types=["per", "LOC"]) == [("PER", "Ada")]


def test_tags_from_entities_first_unused_match() -> None:
    words = ["Ada", "met", "Ada", "in", "New", "York"]
    ents = [("PER", "Ada"), ("PER", "Ada"), ("LOC", "New York"), ("LOC", "York"), ("ORG", "Google")]
    assert metrics.tags_from_entities(words, ents) == ["B-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"]


def test_ner_round_trip_through_the_task_format() -> None:
    from langarith.tasks.ner import entities

    sentences = [
        (["Ada", "Lovelace", "lived", "in", "London", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
        (["The", "Royal", "Society", "met", "in", "London"], ["O", "B-ORG", "I-ORG", "O", "O", "B-LOC"]),
        (["Nothing", "here"], ["O", "O"]),
    ]
    for words, tags in sentences:
        text = "; ".join(f"{k}: {v}" for k, v in entities(words, tags)) or "none"
        assert metrics.tags_from_entities(words, metrics.parse_entities(text)) == tags
    gold = [tags for _, tags in sentences]
    assert metrics.entity_f1(gold, gold) == 100.0


def test_entity_f1_agrees_with_seqeval() -> None:
    from seqeval.metrics import f1_score

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O", "B-LOC"]]
    # 2 of 4 predicted spans are right (LOC, ORG) out of 3 gold spans: F = 2·(1/2)(2/3)/(1/2+2/3) = 4/7.
    assert metrics.entity_f1(gold, pred) == pytest.approx(100 * 4 / 7)
    assert metrics.entity_f1(gold, pred) == pytest.approx(100 * f1_score(gold, pred))


def test_entity_counts_give_seqeval_f1_on_any_subset() -> None:
    """The bootstrap's fast path: F1 from per-sentence span counts equals seqeval on the same sentences, with
    broken BIO (I- without B-, type switches inside a span) and sentences without entities."""
    import numpy as np

    rng = np.random.default_rng(3)
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG"]
    gold = [[str(t) for t in rng.choice(tags, size=rng.integers(1, 9))] for _ in range(60)]
    pred = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in g] for g in gold]
    counts = metrics.entity_counts(gold, pred)
    for rows in (np.arange(60), rng.integers(0, 60, size=60), np.array([5, 5, 7]), np.arange(0)):
        expected = metrics.entity_f1([gold[i] for i in rows], [pred[i] for i in rows]) if len(rows) else 0.0
        assert metrics.f1_from_counts(counts[rows]) == pytest.approx(expected)
    assert metrics.f1_from_counts(metrics.entity_counts([["O"]], [["B-PER"]])) == 0.0


def test_entity_f1_names_the_sentence_with_mismatched_tags() -> None:
    with pytest.raises(MetricError, match=r"sentence 1: 2 gold tags but 1 predicted"):
        metrics.entity_f1([["O"], ["O", "O"]], [["O"], ["O"]])


# --- extractive QA ----------------------------------------------------------------------------


def test_squad_normalization() -> None:
    assert metrics.squad_em_f1([["cat"]], ["The  Cat!"]) == (100.0, 100.0)
    assert metrics.squad_em_f1([["an apple, a pear"]], ["apple pear."]) == (100.0, 100.0)
    # "theatre" keeps its "the": articles are removed only as whole words.
    assert metrics.squad_em_f1([["theatre"]], ["atre"]) == (0.0, 0.0)


def test_squad_partial_overlap_by_hand() -> None:
    # gold -> [big, red, dog], pred -> [red, dog, barked]: 2 shared, P = R = 2/3.
    em, f1 = metrics.squad_em_f1([["the big red dog"]], ["red dog barked"])
    assert em == 0.0
    assert f1 == pytest.approx(100 * 2 / 3)


def test_squad_takes_the_best_gold_answer_and_averages() -> None:
    golds = [["the city of Paris", "Paris"], ["1843"], ["red dog"]]
    preds = ["Paris", "in 1843", "blue cat"]
    ems, f1s = metrics.squad_scores(golds, preds)
    assert ems == [100.0, 0.0, 0.0]
    assert f1s == pytest.approx([100.0, 100 * 2 * 0.5 * 1 / 1.5, 0.0])
    em, f1 = metrics.squad_em_f1(golds, preds)
    assert em == pytest.approx(100 / 3)
    assert f1 == pytest.approx(sum(f1s) / 3)


def test_squad_rejects_bad_gold() -> None:
    with pytest.raises(MetricError, match="example 0 has no gold answers"):
        metrics.squad_scores([[]], ["x"])
    with pytest.raises(MetricError, match="list of strings"):
        metrics.squad_scores(["Paris"], ["Paris"])


# --- ROUGE and chrF ---------------------------------------------------------------------------


def test_rouge_by_hand() -> None:
    # rouge1: 3 of 6 reference words, P=1 R=1/2 -> 2/3; rouge2: 2 of 5 bigrams, P=1 R=2/5 -> 4/7.
    scores = metrics.rouge(["the cat sat on the mat"], ["the cat sat"])
    assert scores["rouge1"] == pytest.approx(100 * 2 / 3)
    assert scores["rouge2"] == pytest.approx(100 * 4 / 7)
    assert scores["rougeL"] == pytest.approx(100 * 2 / 3)


def test_rouge_agrees_with_rouge_score() -> None:
    from rouge_score import rouge_scorer

    refs = ["The cats are running in the garden.", "Stocks fell sharply on Monday.", "A storm hit the coast."]
    preds = ["Cats ran through the garden", "On Monday stocks rose", "The coast was hit by a storm."]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    direct = [scorer.score(r, p) for r, p in zip(refs, preds, strict=True)]
    ours = metrics.rouge(refs, preds)
    for kind in ("rouge1", "rouge2", "rougeL"):
        expected = [100 * d[kind].fmeasure for d in direct]
        assert ours[kind] == pytest.approx(np.mean(expected))
        assert metrics.rouge_scores(refs, preds, kind=kind) == pytest.approx(expected)
    # The Porter stemmer is on, as in the papers' English ROUGE: cats/cat and running/runs match.
    assert metrics.rouge(["cats running"], ["cat runs"])["rouge1"] == 100.0


def test_rouge_rejects_unknown_kind() -> None:
    with pytest.raises(MetricError, match="'rouge3'"):
        metrics.rouge_scores(["a"], ["a"], kind="rouge3")


_AMHARIC_WORDS = ["ሰላም", "ቤት", "ልጅ", "ውሃ", "ትምህርት", "መጽሐፍ", "ከተማ", "ገበያ"]
_AMHARIC_TAILS = ["ትልቅ ነው", "ትንሽ ነው", "ጥሩ ነው", "ዛሬ ሄደ"]


@pytest.fixture(scope="module")
def amharic_pieces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SentencePiece model trained on a few dozen Amharic sentences."""
    import sentencepiece

    folder = tmp_path_factory.mktemp("spm")
    lines = [f"{w} {t}" for w, t in itertools.product(_AMHARIC_WORDS, _AMHARIC_TAILS)]
    (folder / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(folder / "text.txt"), model_prefix=str(folder / "am"), vocab_size=60,
        hard_vocab_limit=False, character_coverage=1.0, minloglevel=2,
    )
    return folder / "am.model"


def test_sentencepiece_rouge_scores_non_latin_text(amharic_pieces: Path) -> None:
    from rouge_score import rouge_scorer

    tokenize = metrics.sentencepiece_tokenizer(amharic_pieces)
    pieces = tokenize("ቤት ትልቅ ነው")
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert any(p.startswith("▁") for p in pieces)

    refs = ["ቤት ትልቅ ነው", "ልጅ ዛሬ ሄደ"]
    preds = ["ቤት ትንሽ ነው", "ልጅ ዛሬ ሄደ"]
    # The English scorer keeps only [a-z0-9]: Ge'ez script leaves it nothing to count.
    assert metrics.rouge(refs, preds) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    scores = metrics.rouge(refs, preds, tokenize=tokenize)
    for kind in ("rouge1", "rouge2", "rougeL"):
        assert 50.0 < scores[kind] < 100.0
    assert metrics.rouge_scores(refs, preds, tokenize=tokenize, kind="rouge1")[1] == 100.0

    class Pieces:
        def tokenize(self, text: str) -> list[str]:
            return tokenize(text)

    scorer = rouge_scorer.RougeScorer(["rouge2"], tokenizer=Pieces())
    expected = np.mean([100 * scorer.score(r, p)["rouge2"].fmeasure for r, p in zip(refs, preds, strict=True)])
    assert scores["rouge2"] == pytest.approx(expected)


def test_sentencepiece_tokenizer_names_a_missing_or_broken_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.model"
    with pytest.raises(MetricError, match=r"nope\.model does not exist"):
        metrics.sentencepiece_tokenizer(missing)
    broken = tmp_path / "broken.model"
    broken.write_bytes(b"not a model")
    with pytest.raises(MetricError, match=r"broken\.model is not a SentencePiece model"):
        metrics.sentencepiece_tokenizer(broken)


def test_rouges_tokenizer_is_a_model_file_a_tokenizer_folder_or_a_hub_id(amharic_pieces: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from langarith.models import tiny_tokenizer

    assert metrics.rouge_tokenizer(amharic_pieces)("ቤት ትልቅ ነው") == metrics.sentencepiece_tokenizer(amharic_pieces)(
        "ቤት ትልቅ ነው")
    tiny_tokenizer(tmp_path / "tok", vocab_size=60)
    text, folder = "the quick brown fox", AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert metrics.rouge_tokenizer(tmp_path / "tok")(text) == folder.tokenize(text)
    with pytest.raises(MetricError, match=r"cannot load ROUGE's tokenizer 'nobody-here/no-such-tokenizer' \(.*\); give "
                                          r"a SentencePiece .model file, a tokenizer folder, or a Hugging Face id"):
        metrics.rouge_tokenizer("nobody-here/no-such-tokenizer")


def test_chrf_agrees_with_sacrebleu() -> None:
    from sacrebleu.metrics import CHRF

    refs = ["Der Hund läuft im Park.", "Es regnet heute."]
    preds = ["Der Hund rennt im Park.", "Heute scheint die Sonne."]
    assert metrics.chrf(refs, preds) == pytest.approx(CHRF().corpus_score(preds, [refs]).score)
    expected = [CHRF().sentence_score(p, [r]).score for r, p in zip(refs, preds, strict=True)]
    assert metrics.chrf_scores(refs, preds) == pytest.approx(expected)
    assert metrics.chrf(refs, refs) == pytest.approx(100.0)
    assert 0 < metrics.chrf(refs, preds) < 100


# --- off-target rate --------------------------------------------------------------------------

_EN = "The weather is lovely today and we are going to the park with the children."
_PT = "O tempo está muito bom hoje e vamos ao parque com as crianças."
_SW = "Hali ya hewa ni nzuri leo na tunaenda kwenye bustani pamoja na watoto."


def test_off_target_rate_on_clear_sentences() -> None:
    assert metrics.off_target_rate([_EN, _EN], "en") == 0.0
    assert metrics.off_target_rate([_PT, _EN], "por_Latn") == 50.0
    assert metrics.off_target_rate([_PT, _EN, _SW], "pt") == pytest.approx(200 / 3)


def test_off_target_rate_counts_macrolanguage_answers_as_on_target() -> None:
    # py3langid answers `sw` (the macrolanguage) for Swahili text.
    for code in ("swh", "swh_Latn", "swa", "sw"):
        assert metrics.off_target_rate([_SW], code) == 0.0
    assert metrics.off_target_rate([_EN, _SW], "swh") == 50.0


def test_off_target_rate_skips_empty_generations() -> None:
    assert metrics.off_target_rate(["", "   ", _EN, _PT], "en") == 50.0
    assert metrics.off_target_rate(["", "  \n"], "en") is None


def test_off_target_rate_cannot_judge_unknown_languages() -> None:
    assert metrics.off_target_rate([_EN], "wol") is None  # Wolof: not among py3langid's languages
    assert metrics.off_target_rate([_EN], "swc") is None  # Congo Swahili: only the macrolanguage is known


# --- significance -----------------------------------------------------------------------------


def test_mcnemar_by_hand() -> None:
    # 6 discordant pairs, all won by B: p = 2 · 0.5^6.
    a = [True] * 4 + [False] * 6 + [False] * 3
    b = [True] * 4 + [True] * 6 + [False] * 3
    assert metrics.mcnemar(a, b) == pytest.approx(2 * 0.5**6)
    assert metrics.mcnemar(b, a) == pytest.approx(metrics.mcnemar(a, b))
    # 1 vs 7 discordant: p = 2 · (C(8,0) + C(8,1)) / 2^8.
    a2 = [True] + [False] * 7
    b2 = [False] + [True] * 7
    assert metrics.mcnemar(a2, b2) == pytest.approx(2 * 9 / 256)


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    assert metrics.mcnemar([True, False], [True, False]) == 1.0


def test_mcnemar_names_the_length_mismatch() -> None:
    with pytest.raises(MetricError, match="2 system A results but 1 system B results"):
        metrics.mcnemar([True, False], [True])


def test_paired_bootstrap_mean_separates_a_clearly_better_system() -> None:
    better = [100.0] * 45 + [0.0] * 5
    worse = [100.0] * 25 + [0.0] * 25
    assert metrics.paired_bootstrap_mean(better, worse) < 0.01
    assert metrics.paired_bootstrap_mean(worse, better) < 0.01
    assert metrics.paired_bootstrap_mean(better, better) == 1.0


def test_paired_bootstrap_p_by_hand() -> None:
    # A wins example 0 only; a resample favours B or ties exactly when it never draws example 0,
    # which happens with probability 1/4 for n=2: p = 2 · 1/4.
    p = metrics.paired_bootstrap_mean([1.0, 0.0], [0.0, 0.0], samples=20000, seed=3)
    assert p == pytest.approx(0.5, abs=0.03)


def test_paired_bootstrap_is_deterministic_and_matches_the_mean_case() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 40) * 100.0
    b = rng.integers(0, 2, 40) * 100.0
    p1 = metrics.paired_bootstrap_mean(a, b, samples=500, seed=7)
    assert p1 == metrics.paired_bootstrap_mean(a, b, samples=500, seed=7)
    assert 0.0 < p1 <= 1.0
    general = metrics.paired_bootstrap(lambda idx: a[idx].mean(), lambda idx: b[idx].mean(), n=40, samples=500, seed=7)
    assert general == p1


def test_paired_bootstrap_on_a_corpus_metric() -> None:
    gold = ["a", "b", "c", "a", "b", "c"] * 5
    good = list(gold)
    good[0] = "b"
    bad = ["a"] * len(gold)

    def score(pred: list[str]):
        return lambda idx: metrics.macro_f1([gold[i] for i in idx], [pred[i] for i in idx], labels=["a", "b", "c"])

    assert metrics.paired_bootstrap(score(good), score(bad), n=len(gold), samples=50) < 0.05
    assert metrics.paired_bootstrap(score(bad), score(bad), n=len(gold), samples=50) == 1.0


def test_paired_bootstrap_rejects_bad_sizes() -> None:
    with pytest.raises(MetricError, match="n=0"):
        metrics.paired_bootstrap(lambda idx: 0.0, lambda idx: 0.0, n=0)
    with pytest.raises(MetricError, match="samples=0"):
        metrics.paired_bootstrap_mean([1.0], [0.0], samples=0)
