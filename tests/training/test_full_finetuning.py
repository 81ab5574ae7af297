"""`--method full` (paper 1's Table 6 baseline): every weight trains, the folder is a model of its own, and
module commands refuse it with what to do instead."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import SHARED

from langarith.arith.formats import ModuleFileError, load
from langarith.training import TrainSpec, train

SIB = SHARED / "sib200"
pytestmark = pytest.mark.skipif(not SIB.exists(), reason="needs the shared SIB-200 data")


def test_full_fine_tuning_changes_every_weight_and_saves_a_loadable_model(tiny_models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from langarith.evaluation import DecoderEvaluator

    made = train(TrainSpec(role="task", language="en", task="sib200", data=SIB, method="full",
                           model=str(tiny_models["decoder"]), out=tmp_path / "full", steps=2, lr=1e-2, batch_size=4,
                           progress=False))
    base = AutoModelForCausalLM.from_pretrained(tiny_models["decoder"])
    tuned = AutoModelForCausalLM.from_pretrained(made.path)
    changed = [n for n, p in tuned.named_parameters() if not torch.equal(p, dict(base.named_parameters())[n])]
    assert len(changed) == len(list(base.named_parameters()))  # every weight trained
    assert AutoTokenizer.from_pretrained(made.path)("a b")["input_ids"] == \
        AutoTokenizer.from_pretrained(tiny_models["decoder"])("a b")["input_ids"]
    manifest = json.loads((made.path / "langarith.json").read_text(encoding="utf-8"))
    assert manifest["method"]["name"] == "full"
    card = (made.path / "README.md").read_text(encoding="utf-8")
    assert "library_name: transformers" in card and "AutoModelForCausalLM.from_pretrained" in card
    with pytest.raises(ModuleFileError, match=r"whole model folder.*--model"):
        load(made.path)
    result = DecoderEvaluator(str(made.path), batch_size=4, progress=False).evaluate(None, "sib200", SIB, "en",
                                                                                    "dev", limit=4)
    assert result.n == 4


def test_full_fine_tuning_does_not_stack_on_a_language_module(tiny_models, tmp_path):
    from langarith.methods import MethodError, get_method

    with pytest.raises(MethodError, match="needs --method bottleneck"):
        get_method("full").attach(object(), {}, "decoder", lang_module=tmp_path)
