"""Where the shared data is absent, tasks read the same datasets from the Hugging Face hub. No hub can be
reached here, so the loader runs on local copies laid out like the hub's parquet export."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED
from hub_layout import (
    NER,
    NEWS,
    SIB,
    SPLITS,
    TYDI,
    WIKIANN,
    XNLI,
    XQUAD,
    export_ner,
    export_news,
    export_sib,
    export_tydiqa,
    export_wikiann,
    export_xnli,
    export_xquad,
    needs,
)

from langarith.data import DataError
from langarith.tasks import TaskError, get_task


@needs(SIB, NEWS)
def test_sib200_from_the_hub_layout_equals_the_local_tsv(tmp_path):
    hub = f"hf:{export_sib(tmp_path / 'sib')}"
    task = get_task("sib200")
    for split in ("train", "dev", "test"):
        assert task.load(Path(hub), "pt", split) == task.load(SIB, "pt", split)
    assert task.labels(Path(hub), "pt") == sorted(task.labels(SIB, "pt"))


@needs(SIB, NEWS)
def test_masakhanews_class_ids_become_label_names(tmp_path):
    hub = Path(f"hf:{export_news(tmp_path / 'news')}")
    topic, headline = get_task("news-topic"), get_task("headline")
    assert topic.load(hub, "yo", "dev") == topic.load(NEWS, "yo", "dev")
    assert headline.load(hub, "yor", "test") == headline.load(NEWS, "yor", "test")
    with pytest.raises(TaskError, match="MasakhaNEWS has no"):
        topic.load(hub, "pt", "dev")


@needs(SIB, NEWS)
def test_configs_fall_back_to_the_hub_without_shared_data(no_local_data):
    from langarith.experiments import load_config

    root = Path(__file__).resolve().parents[2] / "configs"
    assert str(load_config(root / "sib200-one-language.yaml").data_path()) == "hf:Davlan/sib200"
    assert str(load_config(root / "headline-one-language.yaml").data_path()) == "hf:masakhane/masakhanews"


@needs(NER)
@pytest.mark.parametrize(("code", "language", "config", "dataset"), [
    ("hau", "ha", "hau", "masakhaner2"), ("en", "en", "conll2003", "conll2003"), ("de", "de", "de", "wikiann")])
def test_ner_from_the_hub_layout_equals_the_local_conll(tmp_path, code, language, config, dataset):
    hub = Path(f"hf:{export_ner(tmp_path / dataset, code, config, dataset)}")
    task = get_task("ner")
    for split, _ in SPLITS:
        from_hub = task.load(hub, language, split)
        assert len(from_hub) == 30
        assert from_hub == task.load(NER, code, split)[:30]


@needs(NER)
def test_ner_hub_copies_hold_the_other_entity_types_that_become_o(tmp_path):
    from datasets import load_dataset

    root = export_ner(tmp_path / "masakhaner2", "hau", "hau", "masakhaner2")
    ds = load_dataset(str(root), data_dir="hau", split="validation")
    names = ds.features["ner_tags"].feature.names
    assert any(names[t] == "B-DATE" for tags in ds["ner_tags"] for t in tags)
    tags = [t for e in get_task("ner").load(Path(f"hf:{root}"), "hau", "dev") for t in e.gold[1]]
    assert "B-DATE" not in tags and "I-DATE" not in tags


def test_ner_picks_a_hub_dataset_per_language(tmp_path):
    task = get_task("ner")
    fallback = f"hf:{task.hub}"
    assert task.hub_source(fallback, "sw") == ("masakhane/masakhaner2", "swa")
    assert task.hub_source(fallback, "yo") == ("masakhane/masakhaner2", "yor")
    assert task.hub_source(fallback, "eng") == ("eriktks/conll2003", "conll2003")
    assert task.hub_source(fallback, "pt-BR") == ("unimelb-nlp/wikiann", "pt")
    assert task.hub_source(fallback, "zh") == ("unimelb-nlp/wikiann", "zh")
    assert task.hub_source(fallback, "nb") == ("unimelb-nlp/wikiann", "no")
    assert task.hub_source("hf:unimelb-nlp/wikiann", "sw") == ("unimelb-nlp/wikiann", "sw")
    assert task.hub_source(f"hf:{tmp_path}", "hau") == (str(tmp_path), "hau")
    with pytest.raises(TaskError, match="has no NER data for 'de'"):
        task.hub_source("hf:eriktks/conll2003", "de")


def test_ner_configs_fall_back_to_the_per_language_hub(no_local_data):
    from langarith.experiments import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "sib200-one-language.yaml")
    data = config.model_copy(update={"task": "ner", "data": "masakhaner2"}).data_path()
    assert str(data) == "hf:masakhane/masakhaner2"
    assert get_task("ner").hub_source(data, "de") == ("unimelb-nlp/wikiann", "de")


@needs(NER)
def test_ner_without_hub_data_for_a_language_says_to_pass_data(tmp_path):
    task = get_task("ner")
    with pytest.raises(TaskError, match=r"NER data for 'yue'.*--data"):
        task.load(Path("hf:masakhane/masakhaner2"), "yue", "test")
    hub = Path(f"hf:{export_ner(tmp_path / 'masakhaner2', 'hau', 'hau', 'masakhaner2', n=3)}")
    with pytest.raises(DataError, match=r"'yor'.*--data"):
        task.load(hub, "yo", "test")


@needs(XQUAD)
def test_xquad_rows_rebuild_the_json_articles_and_splits(tmp_path):
    hub = Path(f"hf:{export_xquad(tmp_path / 'xquad')}")
    task = get_task("qa")
    loaded = {split: task.load(hub, "en", split) for split, _ in SPLITS}
    for split, examples in loaded.items():
        assert examples == task.load(XQUAD, "en", split)
    assert sum(len(examples) for examples in loaded.values()) == 1190
    with pytest.raises(TaskError, match="XQuAD has no 'fr'"):
        task.load(hub, "fr", "test")
    with pytest.raises(DataError, match=r"'xquad.de'.*--data"):
        task.load(hub, "de", "test")


@needs(WIKIANN, XNLI)
def test_wikiann_and_xnli_from_the_hub_layout_equal_the_shared_files(tmp_path):
    """unimelb-nlp/wikiann (tag ids) and facebook/xnli (label ids), laid out as their parquet exports."""
    export_wikiann(tmp_path / "wikiann", "sw")
    export_xnli(tmp_path / "xnli", "sw")
    for split in ("dev", "test"):
        for task in ("wikiann", "xnli"):
            from_hub = get_task(task).load(Path(f"hf:{tmp_path / task}"), "swh", split)
            assert from_hub == get_task(task).load(SHARED / task, "sw", split)[:30]


@needs(TYDI)
def test_tydiqa_from_the_hub_layout_equals_the_goldp_files(tmp_path):
    """google-research-datasets/tydiqa's secondary_task (GoldP): every language in one split, a question's
    language the prefix of its id; the train file's splits come out as from the GoldP file, and the hub's
    labelled validation split gives dev and test (halves by passage), which the shared release cannot."""
    task = get_task("tydiqa")
    export_tydiqa(tmp_path / "tydiqa", {"sw": "swahili", "ko": "korean"})
    hub = Path(f"hf:{tmp_path / 'tydiqa'}")
    for split in ("train", "train-dev", "train-test"):
        assert task.load(hub, "swh", split) == task.load(TYDI, "sw", split)
    dev, test = task.load(hub, "sw", "dev"), task.load(hub, "sw", "test")
    assert len(dev) + len(test) == 200 and not {e.inputs["context"] for e in dev} & {e.inputs["context"] for e in test}
    with pytest.raises(TaskError, match="no question whose id begins with korean-"):
        task.load(hub, "ko", "dev")
    with pytest.raises(TaskError, match="TyDi QA has no 'de'"):
        task.load(hub, "de", "train")
