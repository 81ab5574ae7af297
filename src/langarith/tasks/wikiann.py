"""WikiANN (PAN-X) NER in XTREME's splits, paper 2's NER task: BIO tags of PER, ORG and LOC over Wikipedia
sentences; entity-level F1 (seqeval). Decoders generate the entities as the `ner` task does; encoders tag.

The shared `wikiann/<l>/{train,dev,test}.conll` hold one `token<TAB>TAG` a line and a blank line between
sentences. The hub fallback reads `unimelb-nlp/wikiann`, whose configurations are ISO 639-1 codes.
"""

from __future__ import annotations

from pathlib import Path

from langarith.tasks import TaskError, hub_rows, is_hub, register
from langarith.tasks.ner import ENTITY_TYPES, Ner, read_conll, wikiann_config

TAGS = frozenset({"O", *(f"{bio}-{kind}" for kind in ENTITY_TYPES for bio in "BI")})


@register
class WikiAnn(Ner):
    name = "wikiann"
    dataset = "wikiann"

    def hub_source(self, data: str | Path, language: str) -> tuple[str, str]:
        config = wikiann_config(language)
        if config is None:
            raise TaskError(f"WikiANN has no {language!r} (its configurations are ISO 639-1 codes); pass --data "
                            "with a local copy")
        return str(data)[3:], config

    def sentences(self, data: Path, language: str, split: str) -> list[tuple[list[str], list[str]]]:
        if is_hub(data):
            dataset, config = self.hub_source(data, language)
            return [(list(r["tokens"]), list(r["ner_tags_names"])) for r in hub_rows(f"hf:{dataset}", config, split)]
        path = self.locate(data, language, split, "{split}.conll")
        sentences = read_conll(path)
        for n, (_, tags) in enumerate(sentences, 1):
            unknown = sorted(set(tags) - TAGS)
            if unknown:
                raise TaskError(f"{path}: sentence {n} has tags outside WikiANN's BIO tags of "
                                f"{', '.join(ENTITY_TYPES)}: {', '.join(unknown)}")
        return sentences
