"""Evaluation on a tiny random decoder: label scoring equals full-sequence scoring, merged modules act like
PEFT's unmerged forward (merged in memory, with the same logits as PEFT's own merge), and the base weights come
back bit for bit."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import SHARED

from langarith.evaluation import DecoderEvaluator as Evaluator
from langarith.evaluation import EvaluationError
from langarith.tasks import get_task

SIB = SHARED / "sib200"
pytestmark = pytest.mark.skipif(not SIB.exists(), reason="needs the shared SIB-200 data")


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANGARITH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield Evaluator("tiny", batch_size=5, progress=False)


@pytest.fixture(scope="module")
def module_dir(evaluator, tmp_path_factory):
    """A LoRA for the tiny model with random (non-zero) factors."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(evaluator.info.path)
    torch.manual_seed(3)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))
    out = tmp_path_factory.mktemp("mods") / "lora"
    peft.save_pretrained(out)
    return out


def full_sequence_scores(evaluator, prompt: str, labels: list[str]) -> list[float]:
    import torch

    from langarith.prompts import target

    tok, model = evaluator.tokenizer, evaluator.model
    p = [tok.bos_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]
    out = []
    for lab in labels:
        t = tok(target(lab), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = model(torch.tensor([p + t])).logits[0].float().log_softmax(-1)
        out.append(sum(float(logp[len(p) - 1 + i, tok_id]) for i, tok_id in enumerate(t)))
    return out


def test_label_scoring_picks_the_label_of_highest_full_sequence_probability(evaluator):
    task = get_task("sib200")
    examples = task.load(SIB, "en", "dev")[:12]
    labels = task.labels(SIB, "en")
    assert any(len(evaluator.tokenizer(" " + lab, add_special_tokens=False)["input_ids"]) > 1 for lab in labels)
    predicted = evaluator.predict(task, examples, labels)
    for ex, pred in zip(examples, predicted, strict=True):
        scores = full_sequence_scores(evaluator, ex.prompt, labels)
        assert pred == labels[max(range(len(labels)), key=scores.__getitem__)]


def test_merged_module_matches_peft_and_weights_come_back_exactly(evaluator, module_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[2, 40, 41, 42, 43]])
    before = {n: p.detach().clone() for n, p in evaluator.model.named_parameters()}
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(evaluator.info.path), module_dir)
    with torch.no_grad():
        expected = reference(ids).logits
        with evaluator.merged(module_dir) as model:
            got = model(ids).logits
        base = evaluator.model(ids).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(base, expected, atol=1e-3)
    after = dict(evaluator.model.named_parameters())
    assert set(after) == set(before)
    assert all(torch.equal(after[n], before[n]) for n in before)
    assert not hasattr(evaluator.model, "peft_config")


def test_a_composed_module_merges_in_memory_and_scores_as_through_peft(evaluator, module_dir, monkeypatch):
    """No folder is written and PEFT loads nothing, and the logits equal the PEFT route's bit for bit."""
    import tempfile

    import torch
    from peft import PeftModel

    from langarith.arith.formats import load
    from langarith.evaluation import deltas

    def refuse(*args, **kwargs):
        raise AssertionError("the in-memory merge wrote or loaded a folder")

    ids = torch.tensor([[2, 40, 41, 42, 43]])
    composed = (0.6 * load(module_dir)).materialize()
    before = {n: p.detach().clone() for n, p in evaluator.model.named_parameters()}
    with monkeypatch.context() as mp, torch.no_grad():
        mp.setattr(PeftModel, "from_pretrained", refuse)
        mp.setattr(tempfile, "TemporaryDirectory", refuse)
        with evaluator.merged(composed) as model:
            in_memory = model(ids).logits
    with monkeypatch.context() as mp, torch.no_grad():
        mp.setattr(deltas, "plan", lambda *args: None)  # what a module the merge cannot express takes
        with evaluator.merged(composed) as model:
            through_peft = model(ids).logits
    assert torch.equal(in_memory, through_peft)
    after = dict(evaluator.model.named_parameters())
    assert all(torch.equal(after[n], before[n]) for n in before)


def test_evaluate_reports_metrics_and_generation_runs(evaluator, module_dir):
    result = evaluator.evaluate(module_dir, "sib200", SIB, "pt", "dev", limit=10)
    assert result.n == 10 and result.scores.primary == "accuracy"
    assert 0.0 <= result.value <= 100.0 and set(result.scores.metrics) == {"accuracy", "macro_f1"}
    assert math.isclose(result.value, 10.0 * sum(result.scores.per_example))
    ner = SHARED / "masakhaner2"
    if ner.exists():
        gen = evaluator.evaluate(None, "ner", ner, "en", "dev", limit=3)
        assert len(gen.predictions) == 3 and all("\n" not in p for p in gen.predictions)
        assert gen.scores.primary == "f1" and gen.scores.corpus is not None


def test_module_for_another_model_is_refused_with_the_reason(evaluator, make_peft):
    with pytest.raises(EvaluationError, match="does not fit tiny"), evaluator.merged(make_peft("other")):
        pass


def test_a_module_with_nan_is_refused_and_limits_must_be_positive(evaluator, module_dir, tmp_path):
    import shutil

    from safetensors.numpy import load_file, save_file

    from langarith.evaluation import load_examples

    folder = Path(shutil.copytree(module_dir, tmp_path / "nan"))
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    first = sorted(tensors)[0]
    tensors[first] = tensors[first] * float("nan")
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    with pytest.raises(EvaluationError, match=r"holds NaN or Inf in 1 tensor\(s\).*Retrain it"), \
            evaluator.merged(folder):
        pass
    for bad in (0, -3):
        with pytest.raises(EvaluationError, match=f"--limit {bad} would evaluate nothing"):
            load_examples(get_task("sib200"), SIB, "pt", "test", bad)


def test_a_module_of_another_base_model_is_refused_even_when_shapes_match(evaluator, module_dir, tmp_path):
    import json
    import shutil

    folder = Path(shutil.copytree(module_dir, tmp_path / "qwen"))
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "Qwen/Qwen2-0.5B"
    (folder / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(EvaluationError, match=r"was trained on Qwen/Qwen2-0.5B \(the hub's weights; weights not "
                                              r"fingerprinted\), but this evaluation runs tiny \(random test model "
                                              r"\(seed 0\); weights sha256 \w{12}\) from .*; pass --model "
                                              r"Qwen/Qwen2-0.5B"), evaluator.merged(folder):
        pass
    config["base_model_name_or_path"] = f"/another/machine/cache/{Path(evaluator.info.path).name}"
    (folder / "adapter_config.json").write_text(json.dumps(config))
    with evaluator.merged(folder):  # the same model in another machine's cache fits
        pass
