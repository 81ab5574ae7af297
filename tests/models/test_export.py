from __future__ import annotations

import json

import pytest
import torch

from langarith.models import ModelError
from langarith.models.export import RECORD, export_merged
from langarith.training import TrainSpec, train


def trained(tiny_models, tmp_path, family="decoder", method="lora", name="m"):
    return train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"], model=str(tiny_models[family]),
                           method=method, out=tmp_path / name, steps=2, lr=5e-2, batch_size=2, seq_len=16,
                           progress=False)).path


@pytest.mark.parametrize("method", ["lora", "lokr"])
def test_the_exported_model_computes_what_peft_computes_with_the_module(tiny_models, tmp_path, method):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    module = trained(tiny_models, tmp_path, method=method)
    out = export_merged(module, tmp_path / "merged")
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    exported = AutoModelForCausalLM.from_pretrained(out)
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_models["decoder"]), str(module))
    base = AutoModelForCausalLM.from_pretrained(tiny_models["decoder"])
    with torch.no_grad():
        got, want, before = exported(ids).logits, reference(ids).logits, base(ids).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert (got - before).abs().max() > 1e-4  # the module changed something
    text = "uma frase em português"
    assert AutoTokenizer.from_pretrained(out)(text).input_ids == AutoTokenizer.from_pretrained(
        tiny_models["decoder"])(text).input_ids
    assert json.loads((out / RECORD).read_text())["module_kind"] == method


def test_export_refuses_what_cannot_be_merged_and_keeps_other_folders(tiny_models, tmp_path):
    adapter = trained(tiny_models, tmp_path, family="encoder", method="bottleneck", name="bn")
    with pytest.raises(ModelError, match=r"bottleneck.*add layers: serve them with AdapterHub"):
        export_merged(adapter, tmp_path / "x")
    module = trained(tiny_models, tmp_path)
    with pytest.raises(ModelError, match=r"was trained on decoder \(local folder decoder; weights sha256 \w{12}\), "
                                         r"not on encoder \(local folder encoder; .*\); pass --model \S+/decoder$"):
        export_merged(module, tmp_path / "x", model=str(tiny_models["encoder"]))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    from langarith.core.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        export_merged(module, notes, overwrite=True)
    assert (notes / "todo.txt").read_text() == "keep me"
    out = export_merged(module, tmp_path / "half", dtype="bfloat16")
    assert export_merged(module, out, overwrite=True) == out  # an export folder is replaced


def test_a_kronecker_module_with_a_non_square_a_merges_exactly_as_attached(tiny_models, tmp_path):
    """PEFT's loader re-derives a square w1 and cannot rebuild A of 4 × 2; the export adds langarith's exact
    ΔW = A ⊗ B instead, and the merged model computes what the model with the module attached computes."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    made = train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"], model=str(tiny_models["decoder"]),
                           method="kronecker", method_options={"shape": [4, 2]}, out=tmp_path / "kron", steps=2,
                           lr=5e-2, batch_size=2, seq_len=16, progress=False))
    with pytest.raises(RuntimeError, match="size mismatch"):  # what the export went through before
        PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_models["decoder"]), str(made.path))
    out = export_merged(made.path, tmp_path / "merged")
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    attached = made.model.eval()
    with torch.no_grad():
        got = AutoModelForCausalLM.from_pretrained(out)(ids).logits
        want = attached(input_ids=ids).logits
        before = AutoModelForCausalLM.from_pretrained(tiny_models["decoder"])(ids).logits
    assert (want - before).abs().max() > 1e-4  # the module changes what the model computes
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert json.loads((out / RECORD).read_text())["module_kind"] == "lokr"
