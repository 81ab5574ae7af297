"""MasakhaNER 2.0 / CoNLL-03 NER (BIO tags). For decoders, entities are generated as
"PER: Ada Lovelace; LOC: London" (or "none"); encoders tag tokens directly.

The shared `masakhaner2` folder mixes sources (MasakhaNER 2.0, CoNLL-03 English, other corpora), so its hub
fallback picks a dataset per language: MasakhaNER 2.0 for its 20 languages, CoNLL-03 for English and WikiANN
for the rest. WikiANN is not the corpus of the shared folder's other languages: scores read from the hub
are not comparable with scores on the shared data for those languages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from langarith.data import get_dataset
from langarith.languages.codes import find_in, same_language, to_iso1
from langarith.prompts import prompt, target
from langarith.scoring.metrics import entity_counts, entity_f1, f1_from_counts, parse_entities, tags_from_entities
from langarith.tasks import Example, Scores, Task, TaskError, hub_rows, is_hub, register

MASAKHANER2 = ("bam", "bbj", "ewe", "fon", "hau", "ibo", "kin", "lug", "luo", "mos", "nya", "pcm", "sna", "swa",
               "tsn", "twi", "wol", "xho", "yor", "zul")
MASAKHANER2_HUB, WIKIANN_HUB = get_dataset("masakhaner2").hub, get_dataset("wikiann").hub
CONLL03_HUB = "eriktks/conll2003"  # English on the hub route (the shared folder's English is CoNLL-03)
ENTITY_TYPES = ("PER", "ORG", "LOC")
#: WikiANN files Norwegian Bokmål under the macrolanguage's code
WIKIANN_CODES = {"nb": "no"}


def masakhaner2_config(language: str) -> str | None:
    return find_in(language, MASAKHANER2)


def conll03_config(language: str) -> str | None:
    return "conll2003" if same_language(language, "en") else None


def wikiann_config(language: str) -> str | None:
    iso1 = to_iso1(language)
    return WIKIANN_CODES.get(iso1, iso1) if iso1 else None


#: hub dataset → its configuration for a language (None: the dataset lacks it), in the order the fallback tries
HUB_CONFIGS: dict[str, Callable[[str], str | None]] = {
    MASAKHANER2_HUB: masakhaner2_config, CONLL03_HUB: conll03_config, WIKIANN_HUB: wikiann_config}


def keep_types(tags: Sequence[str]) -> list[str]:
    """Tags of entity types other than PER/ORG/LOC (MasakhaNER's DATE, CoNLL's MISC) become O: the shared data
    was made that way, and hub and local copies must give the same examples."""
    return [t if t[2:] in ENTITY_TYPES else "O" for t in tags]


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    sentences, words, tags = [], [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        parts = line.split()
        if len(parts) < 2:
            raise TaskError(f"{path}:{n}: expected 'token TAG', got {line!r}")
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        sentences.append((words, tags))
    return sentences


def entities(words: list[str], tags: list[str]) -> list[tuple[str, str]]:
    spans: list[tuple[str, list[str]]] = []
    for word, tag in zip(words, tags, strict=True):
        if tag.startswith("B-") or (tag.startswith("I-") and (not spans or spans[-1][0] != tag[2:])):
            spans.append((tag[2:], [word]))
        elif tag.startswith("I-"):
            spans[-1][1].append(word)
    return [(kind, " ".join(ws)) for kind, ws in spans]


@register
class Ner(Task):
    name = "ner"
    kind = "generation"
    primary = "f1"
    head = "tagging"

    def head_labels(self, data: Path, language: str, examples: Sequence[Example]) -> list[str]:
        """The BIO tags of the examples, O first, then sorted."""
        tags = {t for e in examples for t in e.gold[1]}
        return ["O", *sorted(tags - {"O"})]
    max_new_tokens = 48
    #: its hub fallback, `hf:masakhane/masakhaner2`, is turned into a dataset per language by `hub_source`
    dataset = "masakhaner2"

    def hub_source(self, data: str | Path, language: str) -> tuple[str, str]:
        """(dataset, configuration) that `hf:…` data means for `language`. `hf:masakhane/masakhaner2`, the
        fallback, stands for the whole shared folder and so picks the dataset by language; another known NER
        dataset is read as named; a local copy or a mirror is read with the configuration the fallback picks."""
        name = str(data)[3:]
        if name in HUB_CONFIGS and name != self.hub:
            config = HUB_CONFIGS[name](language)
            if config is None:
                raise TaskError(f"{name} has no NER data for {language!r}; pass --data with a local copy")
            return name, config
        for dataset, config_of in HUB_CONFIGS.items():
            config = config_of(language)
            if config is not None:
                return (dataset if name == self.hub else name), config
        raise TaskError(f"no Hugging Face dataset has NER data for {language!r} (MasakhaNER 2.0: "
                        f"{', '.join(MASAKHANER2)}; CoNLL-03: en; WikiANN: languages with an ISO 639-1 code); "
                        "pass --data with a local copy")

    def hub_config(self, language: str) -> str:
        return self.hub_source(f"hf:{self.hub}", language)[1]

    def sentences(self, data: Path, language: str, split: str) -> list[tuple[list[str], list[str]]]:
        if not is_hub(data):
            return read_conll(self.locate(data, language, split, "{split}.txt"))
        dataset, config = self.hub_source(data, language)
        return [(list(r["tokens"]), keep_types(r["ner_tags_names"]))
                for r in hub_rows(f"hf:{dataset}", config, split)]

    def load(self, data: Path, language: str, split: str) -> list[Example]:
        out = []
        for words, tags in self.sentences(data, language, split):
            found = entities(words, tags)
            text = "; ".join(f"{k}: {v}" for k, v in found) or "none"
            out.append(Example(prompt("ner", text=" ".join(words)), target(text), gold=(words, tags),
                               inputs={"words": words}))
        return out

    def score(self, examples: Sequence[Example], predictions: Sequence[str], language: str,
              tokenize: Callable[[str], list[str]] | None = None) -> Scores:
        """seqeval entity F1. A decoder's generated entities are mapped back onto the sentence's words as BIO
        tags; an encoder's tagging head predicts the tags themselves (a list per sentence)."""
        gold = [list(e.gold[1]) for e in examples]
        pred = [list(p) if isinstance(p, list) else tags_from_entities(list(e.gold[0]), parse_entities(p))
                for e, p in zip(examples, predictions, strict=True)]
        per = [float(g == p) for g, p in zip(gold, pred, strict=True)]

        counts = entity_counts(gold, pred)

        def corpus(rows) -> float:
            return f1_from_counts(counts[rows])

        return Scores({"f1": entity_f1(gold, pred), "sentence_exact": 100.0 * sum(per) / max(len(per), 1)},
                      self.primary, per, "bootstrap", corpus)
