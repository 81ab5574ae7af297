"""Task modules on a tiny random encoder-decoder (T5): they train on prompt → target, label scoring equals
full-sequence scoring through the decoder, generation runs, and a merged module acts like PEFT's forward."""

from __future__ import annotations

import pytest
from conftest import SHARED

from langarith.evaluation import EvaluationError, Seq2SeqEvaluator, merged_evaluator
from langarith.tasks import get_task
from langarith.training import TrainSpec, train

SIB = SHARED / "sib200"
pytestmark = pytest.mark.skipif(not SIB.exists(), reason="needs the shared SIB-200 data")


@pytest.fixture(scope="module")
def t5_task(tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("t5") / "task_en"
    return train(TrainSpec(role="task", language="en", task="sib200", data=SIB, out=out, steps=3, batch_size=4,
                           lr=1e-2, model=str(tiny_models["encoder-decoder"]), progress=False))


@pytest.fixture(scope="module")
def evaluator(tiny_models):
    return merged_evaluator(str(tiny_models["encoder-decoder"]), batch_size=5, progress=False)


def decoder_scores(evaluator, prompt: str, labels: list[str]) -> list[float]:
    """log p(label | prompt) from one plain forward per label: the model's own loss times the label length."""
    import torch

    from langarith.prompts import target

    tok, model = evaluator.tokenizer, evaluator.model
    ids = torch.tensor([evaluator._prompt(tok(prompt, add_special_tokens=False)["input_ids"])])
    out = []
    for lab in labels:
        t = tok(target(lab), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out.append(-float(model(input_ids=ids, labels=torch.tensor([t])).loss) * len(t))
    return out


def test_a_t5_task_module_trains_on_the_decoder_target(t5_task):
    manifest = t5_task.manifest
    assert manifest["task"] == "sib200" and manifest["model"]["family"] == "encoder-decoder"
    assert all(loss == loss for loss in manifest["loss_curve"]) and len(manifest["loss_curve"]) == 3


def test_label_scoring_through_the_decoder_picks_the_most_probable_label(evaluator):
    assert isinstance(evaluator, Seq2SeqEvaluator)
    task = get_task("sib200")
    examples = task.load(SIB, "en", "dev")[:8]
    labels = task.labels(SIB, "en")
    for ex, pred in zip(examples, evaluator.predict(task, examples, labels), strict=True):
        scores = decoder_scores(evaluator, ex.prompt, labels)
        assert pred == labels[max(range(len(labels)), key=scores.__getitem__)]


def test_a_merged_t5_module_scores_like_peft_and_generation_runs(evaluator, t5_task, tiny_models):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM

    ids, start = torch.tensor([[5, 40, 41, 42, 3]]), torch.tensor([[evaluator.model.config.decoder_start_token_id]])
    reference = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(tiny_models["encoder-decoder"]),
                                          str(t5_task.path))
    with torch.no_grad(), evaluator.merged(t5_task.path) as model:
        got = model(input_ids=ids, decoder_input_ids=start).logits
    with torch.no_grad():
        torch.testing.assert_close(got, reference(input_ids=ids, decoder_input_ids=start).logits, atol=1e-5,
                                   rtol=1e-5)
    result = evaluator.evaluate(t5_task.path, "sib200", SIB, "pt", "dev", limit=6)
    assert result.n == 6 and 0.0 <= result.value <= 100.0
    generated = evaluator._generate(get_task("sib200").load(SIB, "en", "dev")[:2], 4, "generating")
    assert len(generated) == 2 and all("\n" not in g for g in generated)


def test_an_encoder_is_not_a_merged_evaluation(tiny_models):
    with pytest.raises(EvaluationError, match="AdapterHub adapters with a head"):
        merged_evaluator(str(tiny_models["encoder"]))
