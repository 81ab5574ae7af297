"""`search_lambda` from Python: λ for a recipe as `langarith search-lambda` chooses it, the module saved."""

from __future__ import annotations

import json

import pytest

import langarith
from langarith.core.errors import OutputExistsError, RecipeError


def sib_like(root, lang="pt"):
    folder = root / lang
    folder.mkdir(parents=True)
    (root / "labels.txt").write_text("sports\nhealth\n")
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_text("index_id\tcategory\ttext\n1\tsports\tA match.\n2\thealth\tA doctor.\n")
    return root


def test_a_label_free_choice_needs_no_model_and_saves_the_module_with_its_search(make_peft, tmp_path):
    task, lang_pt = make_peft("task_en", seed=1), make_peft("lang_pt", seed=2)
    found = langarith.search_lambda("add", target="pt", task="sib200", task_modules={"en": task},
                                    lang_modules={"pt": lang_pt}, dev=sib_like(tmp_path / "sib"), strategy="fixed",
                                    step=0.25, out=tmp_path / "task_pt")
    assert found.best == 0.5 and found.strategy == "fixed"
    manifest = json.loads((tmp_path / "task_pt" / "langarith.json").read_text(encoding="utf-8"))
    assert manifest["provenance"]["recipe"] == {"name": "add", "lambda": 0.5, "target": "pt"}
    with pytest.raises(RecipeError, match="would tune it on the test set"):
        langarith.search_lambda("add", target="pt", task="sib200", task_modules={"en": task},
                                lang_modules={"pt": lang_pt}, dev=tmp_path / "sib", split="test", strategy="fixed")
    with pytest.raises(RecipeError, match="--strategy transfer takes λ from other languages"):
        langarith.search_lambda("add", target="pt", task="sib200", task_modules={"en": task},
                                lang_modules={"pt": lang_pt}, dev=tmp_path / "sib", strategy="transfer")


def test_the_saved_module_and_the_result_name_every_input_with_its_hash(make_peft, tmp_path, monkeypatch):
    task, lang_pt = make_peft("task_en", seed=1), make_peft("lang_pt", seed=2)
    dev = sib_like(tmp_path / "sib")
    monkeypatch.chdir(tmp_path)
    found = langarith.search_lambda("add", target="pt", task="sib200", task_modules={"en": "task_en"},
                                    lang_modules={"pt": "lang_pt"}, dev="sib", strategy="fixed", out="task_pt")
    provenance = json.loads((tmp_path / "task_pt" / "langarith.json").read_text(encoding="utf-8"))["provenance"]
    inputs = {i["name"]: i for i in provenance["inputs"]}
    assert {n: i["path"] for n, i in inputs.items()} == {"task_en": str(task), "lang_pt": str(lang_pt),
                                                         "dev": str(dev)}
    assert inputs["task_en"]["sha256"] == langarith.load(task).sha256 and len(inputs["dev"]["sha256"]) == 64
    assert inputs["task_en"]["role"] == "task" and set(provenance["weights"]) == {"task_en", "lang_pt"}
    assert provenance["search"]["strategy"] == "fixed" and provenance["search"]["curve"] == []
    assert provenance["dev"] == {"split": "dev", "limit": None} and provenance["cwd"] == str(tmp_path)
    assert provenance["call"]["function"] == "langarith.evaluation.choose.search_lambda"
    assert "commit" in provenance and provenance["date"]
    record = found.to_json()["record"]
    assert {i["name"]: i["sha256"] for i in record["inputs"]} == {n: i["sha256"] for n, i in inputs.items()}


def test_an_existing_out_is_refused_before_anything_is_loaded_or_scored(make_peft, tmp_path, monkeypatch):
    import langarith.evaluation
    import langarith.evaluation.choose as choose

    task, lang_pt = make_peft("task_en", seed=1), make_peft("lang_pt", seed=2)
    dev = sib_like(tmp_path / "sib")
    calls = []
    monkeypatch.setattr(langarith.evaluation, "merged_evaluator", lambda *a, **k: calls.append(a))
    load_as = choose.load_as
    monkeypatch.setattr(choose, "load_as", lambda *a: calls.append(a) or load_as(*a))
    (tmp_path / "task_pt").mkdir()
    (tmp_path / "task_pt" / "langarith.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="already exists; choose another --out or pass --overwrite"):
        langarith.search_lambda("add", target="pt", task="sib200", task_modules={"en": task},
                                lang_modules={"pt": lang_pt}, dev=dev, strategy="grid", out=tmp_path / "task_pt")
    assert calls == []  # no module was loaded, no evaluator made
    with pytest.raises(OutputExistsError, match="is the input"):
        langarith.search_lambda("add", target="pt", task="sib200", task_modules={"en": task},
                                lang_modules={"pt": lang_pt}, dev=dev, strategy="fixed", out=task, overwrite=True)
    found = langarith.search_lambda("add", target="pt", task="sib200", task_modules={"en": task},
                                    lang_modules={"pt": lang_pt}, dev=dev, strategy="fixed", out=tmp_path / "task_pt",
                                    overwrite=True)
    written = json.loads((tmp_path / "task_pt" / "langarith.json").read_text(encoding="utf-8"))
    assert written["provenance"]["recipe"]["lambda"] == found.best == 0.5 and len(calls) == 2  # the modules only
