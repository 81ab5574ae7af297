"""`search_lambda` from Python: λ for a recipe as `langarith search-lambda` chooses it, the module saved."""

from __future__ import annotations

import json

import pytest

import langarith
from langarith.core.errors import RecipeError


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
