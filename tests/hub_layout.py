"""The Hugging Face hub's parquet export of each dataset langarith reads, built from the shared data in the
export's own layout (`<config>/<split>/0000.parquet`, class ids as `ClassLabel`s), and a stand-in for the hub
itself: no hub can be reached here, so `fake_hub` answers `datasets` and `huggingface_hub` from such a folder;
and `in_hub_cache`: a model under its hub id in a hub cache, which transformers reads offline as it would online."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import SHARED, needs  # noqa: F401  (re-exported for the hub tests)

SIB, NEWS, NER, XQUAD = (SHARED / name for name in ("sib200", "masakhanews", "masakhaner2", "xquad"))
SPLITS = (("train", "train"), ("dev", "validation"), ("test", "test"))
MASAKHA_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-DATE", "I-DATE"]
CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
WIKIANN_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def export_sib(root: Path, configs: tuple[str, ...] = ("por_Latn",)) -> Path:
    """Davlan/sib200's export: <config>/<split>/0000.parquet with index_id, category, text."""
    import csv

    from datasets import Dataset

    for config in configs:
        for split, hub_split in SPLITS:
            with (SIB / config / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t"))
            folder = root / config / hub_split
            folder.mkdir(parents=True)
            Dataset.from_list(rows).to_parquet(str(folder / "0000.parquet"))
    return root


def export_news(root: Path) -> Path:
    """masakhane/masakhanews's export: <config>/masakhanews-<split>.parquet with an integer ClassLabel."""
    from datasets import ClassLabel, Dataset, Features, Value

    from langarith.languages.corpora import read_file

    names = [n.strip() for n in (NEWS / "yor" / "labels.txt").read_text(encoding="utf-8").split() if n.strip()]
    features = Features({"label": ClassLabel(names=names), "headline": Value("string"), "text": Value("string")})
    (root / "yor").mkdir(parents=True)
    for split, hub_split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        path = NEWS / "yor" / f"{split}.tsv"
        rows = {"label": [names.index(c) for c in read_file(path, "category")],
                "headline": read_file(path, "headline"), "text": read_file(path, "text")}
        Dataset.from_dict(rows, features=features).to_parquet(str(root / "yor" / f"masakhanews-{hub_split}.parquet"))
    return root


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


TATOEBA, WIKIANN, XNLI, TYDI = SHARED / "tatoeba", SHARED / "wikiann", SHARED / "xnli", SHARED / "tydiqa"


def export_tatoeba(root: Path, codes: tuple[str, ...] = ("por",)) -> Path:
    """mteb/tatoeba-bitext-mining's export: `<iso3>-eng/test/0000.parquet`, the language in sentence1."""
    from datasets import Dataset

    for code in codes:
        pair = [(TATOEBA / f"tatoeba.{code}-eng.{side}").read_text(encoding="utf-8").splitlines()
                for side in (code, "eng")]
        folder = root / f"{code}-eng" / "test"
        folder.mkdir(parents=True)
        Dataset.from_list([{"sentence1": a, "sentence2": b} for a, b in zip(*pair, strict=True)]).to_parquet(
            str(folder / "0000.parquet"))
    return root


def export_wikiann(root: Path, code: str = "sw", n: int = 30) -> Path:
    """unimelb-nlp/wikiann's export: tokens and ner_tags as ClassLabel ids, the first `n` sentences per split."""
    from datasets import ClassLabel, Dataset, Features, List, Value

    from langarith.tasks.ner import read_conll

    tags = {"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=WIKIANN_TAGS))}
    for split, hub_split in SPLITS:
        sentences = read_conll(WIKIANN / code / f"{split}.conll")[:n]
        folder = root / code / hub_split
        folder.mkdir(parents=True)
        Dataset.from_list([{"tokens": w, "ner_tags": [WIKIANN_TAGS.index(t) for t in t_]} for w, t_ in sentences],
                          features=Features(tags)).to_parquet(str(folder / "0000.parquet"))
    return root


def export_xnli(root: Path, code: str = "en", n: int = 30) -> Path:
    """facebook/xnli's export: premise, hypothesis and the label as a ClassLabel id; the splits the shared data
    has for `code`, the first `n` rows of each."""
    import csv

    from datasets import ClassLabel, Dataset, Features, Value

    from langarith.tasks.xnli import LABELS

    pairs = {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=list(LABELS))}
    for split, hub_split in SPLITS:
        if not (XNLI / code / f"{split}.tsv").exists():
            continue
        with (XNLI / code / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))[:n]
        folder = root / code / hub_split
        folder.mkdir(parents=True)
        Dataset.from_list([{**r, "label": LABELS.index(r["label"])} for r in rows],
                          features=Features(pairs)).to_parquet(str(folder / "0000.parquet"))
    return root


def export_tydiqa(root: Path, codes: dict[str, str], validation: int = 200) -> Path:
    """google-research-datasets/tydiqa's secondary_task (GoldP): every language in one split, a question's
    language the prefix of its id; the train files of `codes` (code → the hub's name), and the first
    `validation` questions of the first language as the labelled validation split."""
    import json

    from datasets import Dataset

    rows = []
    for code, name in codes.items():
        articles = json.loads((TYDI / f"tydiqa.goldp.{code}.train.json").read_text(encoding="utf-8"))["data"]
        rows += [{"id": f"{name}-{qa['id']}", "title": "", "context": para["context"], "question": qa["question"],
                  "answers": {"text": [a["text"] for a in qa["answers"]],
                              "answer_start": [a["answer_start"] for a in qa["answers"]]}}
                 for article in articles for para in article["paragraphs"] for qa in para["qas"]]
    first = next(iter(codes.values()))
    for split, part in (("train", rows), ("validation", [r for r in rows if r["id"].startswith(f"{first}-")]
                                           [:validation])):
        folder = root / "secondary_task" / split
        folder.mkdir(parents=True)
        Dataset.from_list(part).to_parquet(str(folder / "0000.parquet"))
    return root


def fake_hub(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """Make `root/<owner>/<name>` answer for the hub dataset `<owner>/<name>`: `datasets.load_dataset` of its
    parquet export reads the folder (a missing one fails as an unknown dataset does), and `HfApi.list_repo_tree`
    lists its configurations. Everything between langarith and those two calls runs as it would online."""
    import datasets
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFolder

    load = datasets.load_dataset

    def load_dataset(path: str, *args, revision: str | None = None, **kwargs):
        if revision is None:
            return load(path, *args, **kwargs)
        if not (root / path).is_dir():
            raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed.")
        return load(str(root / path), *args, **kwargs)

    def list_repo_tree(self, repo_id: str, *args, **kwargs):
        if not (root / repo_id).is_dir():
            raise FileNotFoundError(f"Repository Not Found for url: {repo_id}")
        return [RepoFolder(path=p.name, oid="0" * 40) for p in sorted((root / repo_id).iterdir()) if p.is_dir()]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(HfApi, "list_repo_tree", list_repo_tree)
    root.mkdir(parents=True, exist_ok=True)
    return root


def in_hub_cache(root: Path, repo: str, folder: Path) -> Path:
    """A Hugging Face hub cache holding the model `folder` as `repo` (what `HF_HUB_CACHE` points at, offline):
    blobs named by their sha256, a snapshot of links."""
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot, blobs = repo_dir / "snapshots" / commit, repo_dir / "blobs"
    for made in (snapshot, blobs, repo_dir / "refs"):
        made.mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for path in folder.iterdir():
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        (blobs / sha).write_bytes(path.read_bytes())
        (snapshot / path.name).symlink_to(Path("../../blobs") / sha)
    return root
