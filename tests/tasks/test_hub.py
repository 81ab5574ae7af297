"""Where the shared data is absent, tasks read the same datasets from the Hugging Face hub. No hub can be
reached here, so the loader runs on local copies laid out like the hub's parquet export."""

from __future__ import annotations

from pathlib import Path

import pytest

from langarith.paths import data_dir
from langarith.tasks import TaskError, get_task

SIB, NEWS, NER, XQUAD = (data_dir() / name for name in ("sib200", "masakhanews", "masakhaner2", "xquad"))
SPLITS = (("train", "train"), ("dev", "validation"), ("test", "test"))
MASAKHA_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-DATE", "I-DATE"]
CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
WIKIANN_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def needs(*folders: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not all(f.exists() for f in folders), reason="needs the shared data")


def export_sib(root: Path) -> Path:
    """Davlan/sib200's export: <config>/<split>/0000.parquet with index_id, category, text."""
    import csv

    from datasets import Dataset

    for split, hub_split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        with (SIB / "por_Latn" / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        folder = root / "por_Latn" / hub_split
        folder.mkdir(parents=True)
        Dataset.from_list(rows).to_parquet(str(folder / "0000.parquet"))
    return root


def export_news(root: Path) -> Path:
    """masakhane/masakhanews's export: <config>/masakhanews-<split>.parquet with an integer ClassLabel."""
    from datasets import ClassLabel, Dataset, Features, Value

    from langarith.corpora import read_file

    names = [n.strip() for n in (NEWS / "yor" / "labels.txt").read_text(encoding="utf-8").split() if n.strip()]
    features = Features({"label": ClassLabel(names=names), "headline": Value("string"), "text": Value("string")})
    (root / "yor").mkdir(parents=True)
    for split, hub_split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        path = NEWS / "yor" / f"{split}.tsv"
        rows = {"label": [names.index(c) for c in read_file(path, "category")],
                "headline": read_file(path, "headline"), "text": read_file(path, "text")}
        Dataset.from_dict(rows, features=features).to_parquet(str(root / "yor" / f"masakhanews-{hub_split}.parquet"))
    return root


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
def test_configs_fall_back_to_the_hub_without_shared_data(tmp_path, monkeypatch):
    from langarith.experiments import load_config

    monkeypatch.setenv("LANGARITH_DATA", str(tmp_path / "nothing-here"))
    root = Path(__file__).resolve().parents[2] / "configs"
    assert str(load_config(root / "sib200-one-language.yaml").data_path()) == "hf:Davlan/sib200"
    assert str(load_config(root / "headline-one-language.yaml").data_path()) == "hf:masakhane/masakhanews"


def other_type(tags: list[str], kind: str) -> list[str]:
    """The hub's tags where the shared data has O: the first two O tokens in a row become a `kind` entity,
    which the loader must turn back into O."""
    out = list(tags)
    for i in range(len(out) - 1):
        if out[i] == out[i + 1] == "O":
            out[i:i + 2] = [f"B-{kind}", f"I-{kind}"]
            break
    return out


def export_ner(root: Path, code: str, config: str, dataset: str, n: int = 30) -> Path:
    """The first `n` sentences of each split of masakhaner2/<code>, laid out like the hub export of `dataset`
    (<config>/<split>/0000.parquet, ner_tags a sequence of ClassLabel ids); MasakhaNER and CoNLL-03 copies carry
    DATE / MISC entities where the shared data has O."""
    from datasets import ClassLabel, Dataset, Features, List, Value

    from langarith.tasks.ner import read_conll

    names = {"masakhaner2": MASAKHA_TAGS, "conll2003": CONLL_TAGS, "wikiann": WIKIANN_TAGS}[dataset]
    extra = {"masakhaner2": "DATE", "conll2003": "MISC"}.get(dataset)
    columns = {"id": Value("string"), "tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=names))}
    if dataset == "conll2003":
        columns |= {"pos_tags": List(Value("int32")), "chunk_tags": List(Value("int32"))}
    if dataset == "wikiann":
        columns = {"tokens": columns["tokens"], "ner_tags": columns["ner_tags"], "langs": List(Value("string")),
                   "spans": List(Value("string"))}
    for split, hub_split in SPLITS:
        sentences = read_conll(NER / code / f"{split}.txt")[:n]
        rows = []
        for i, (words, tags) in enumerate(sentences):
            hub_tags = other_type(tags, extra) if extra else tags
            row = {"id": str(i), "tokens": words, "ner_tags": [names.index(t) for t in hub_tags],
                   "pos_tags": [0] * len(words), "chunk_tags": [0] * len(words), "langs": [config] * len(words),
                   "spans": []}
            rows.append({k: row[k] for k in columns})
        folder = root / config / hub_split
        folder.mkdir(parents=True)
        Dataset.from_list(rows, features=Features(columns)).to_parquet(str(folder / "0000.parquet"))
    return root


def export_xquad(root: Path) -> Path:
    """google/xquad's export: xquad.en/validation/0000.parquet, one row per question in the JSON's order."""
    import json

    from datasets import Dataset, Features, List, Value

    articles = json.loads((XQUAD / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    rows = [{"id": qa["id"], "context": para["context"], "question": qa["question"],
             "answers": {"text": [a["text"] for a in qa["answers"]],
                         "answer_start": [a["answer_start"] for a in qa["answers"]]}}
            for article in articles for para in article["paragraphs"] for qa in para["qas"]]
    features = Features({"id": Value("string"), "context": Value("string"), "question": Value("string"),
                         "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))}})
    folder = root / "xquad.en" / "validation"
    folder.mkdir(parents=True)
    Dataset.from_list(rows, features=features).to_parquet(str(folder / "0000.parquet"))
    return root


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


def test_ner_configs_fall_back_to_the_per_language_hub(tmp_path, monkeypatch):
    from langarith.experiments import load_config

    monkeypatch.setenv("LANGARITH_DATA", str(tmp_path / "nothing-here"))
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
    with pytest.raises(TaskError, match=r"'yor'.*--data"):
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
    with pytest.raises(TaskError, match=r"'xquad.de'.*--data"):
        task.load(hub, "de", "test")


WIKIANN, XNLI = data_dir() / "wikiann", data_dir() / "xnli"


@needs(WIKIANN, XNLI)
def test_wikiann_and_xnli_from_the_hub_layout_equal_the_shared_files(tmp_path):
    """unimelb-nlp/wikiann (tag ids) and facebook/xnli (label ids), laid out as their parquet exports."""
    import csv

    from datasets import ClassLabel, Dataset, Features, List, Value

    from langarith.tasks.ner import read_conll
    from langarith.tasks.xnli import LABELS

    tags = {"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=WIKIANN_TAGS))}
    pairs = {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=list(LABELS))}
    for split, hub_split in (("dev", "validation"), ("test", "test")):
        sentences = read_conll(WIKIANN / "sw" / f"{split}.conll")[:30]
        folder = tmp_path / "wikiann" / "sw" / hub_split
        folder.mkdir(parents=True)
        Dataset.from_list([{"tokens": w, "ner_tags": [WIKIANN_TAGS.index(t) for t in t_]} for w, t_ in sentences],
                          features=Features(tags)).to_parquet(str(folder / "0000.parquet"))
        with (XNLI / "sw" / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))[:30]
        folder = tmp_path / "xnli" / "sw" / hub_split
        folder.mkdir(parents=True)
        Dataset.from_list([{**r, "label": LABELS.index(r["label"])} for r in rows],
                          features=Features(pairs)).to_parquet(str(folder / "0000.parquet"))
        for task in ("wikiann", "xnli"):
            from_hub = get_task(task).load(Path(f"hf:{tmp_path / task}"), "swh", split)
            assert from_hub == get_task(task).load(data_dir() / task, "sw", split)[:30]


TYDI = data_dir() / "tydiqa"


@needs(TYDI)
def test_tydiqa_from_the_hub_layout_equals_the_goldp_files(tmp_path):
    """google-research-datasets/tydiqa's secondary_task (GoldP): every language in one split, a question's
    language the prefix of its id; the train file's splits come out as from the GoldP file, and the hub's
    labelled validation split gives dev and test (halves by passage), which the shared release cannot."""
    import json

    from datasets import Dataset

    task = get_task("tydiqa")
    rows = []
    for code, name in (("sw", "swahili"), ("ko", "korean")):
        articles = json.loads((TYDI / f"tydiqa.goldp.{code}.train.json").read_text(encoding="utf-8"))["data"]
        rows += [{"id": f"{name}-{qa['id']}", "title": "", "context": para["context"], "question": qa["question"],
                  "answers": {"text": [a["text"] for a in qa["answers"]],
                              "answer_start": [a["answer_start"] for a in qa["answers"]]}}
                 for article in articles for para in article["paragraphs"] for qa in para["qas"]]
    for split, part in (("train", rows), ("validation", [r for r in rows if r["id"].startswith("swahili-")][:200])):
        folder = tmp_path / "tydiqa" / "secondary_task" / split
        folder.mkdir(parents=True)
        Dataset.from_list(part).to_parquet(str(folder / "0000.parquet"))
    hub = Path(f"hf:{tmp_path / 'tydiqa'}")
    for split in ("train", "train-dev", "train-test"):
        assert task.load(hub, "swh", split) == task.load(TYDI, "sw", split)
    dev, test = task.load(hub, "sw", "dev"), task.load(hub, "sw", "test")
    assert len(dev) + len(test) == 200 and not {e.inputs["context"] for e in dev} & {e.inputs["context"] for e in test}
    with pytest.raises(TaskError, match="no question whose id begins with korean-"):
        task.load(hub, "ko", "dev")
    with pytest.raises(TaskError, match="TyDi QA has no 'de'"):
        task.load(hub, "de", "train")
