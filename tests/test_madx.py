"""MAD-X on a tiny random encoder: task adapters with heads on a frozen language adapter, Stack inference,
and language arithmetic in the language slot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from langarith.train import TrainSpec, train


def write_sib(root: Path, lang: str = "eng_Latn", n: int = 12) -> Path:
    folder = root / lang
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.txt").write_text("sports\nhealth\nscience\n")
    topics = ["sports", "health", "science"]
    for split in ("train", "dev", "test"):
        rows = [f"{i}\t{topics[i % 3]}\tThe {topics[i % 3]} news number {i} is here." for i in range(n)]
        (folder / f"{split}.tsv").write_text("index_id\tcategory\ttext\n" + "\n".join(rows) + "\n")
    return root


def write_ner(root: Path, lang: str = "en") -> Path:
    folder = root / lang
    folder.mkdir(parents=True, exist_ok=True)
    sentence = "Ada B-PER\nLovelace I-PER\nlived O\nin O\nLondon B-LOC\n.\tO\n"
    for split in ("train", "dev", "test"):
        (folder / f"{split}.txt").write_text((sentence.replace("\t", " ") + "\n") * 6)
    return root


def write_qa(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    context = "Lisbon is the capital of Portugal and its largest city."
    article = {"paragraphs": [{"context": context, "qas": [
        {"id": "1", "question": "What is the capital of Portugal?", "answers": [{"text": "Lisbon", "answer_start": 0}]},
    ]}]}
    (root / "xquad.en.json").write_text(json.dumps({"data": [article] * 8}))
    return root


def language_adapter(tiny_models, tmp_path: Path, name: str, seed: int) -> Path:
    return train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"], model=str(tiny_models["encoder"]),
                           method="bottleneck", method_options={"config": "seq_bn_inv"}, out=tmp_path / name,
                           steps=2, lr=5e-2, batch_size=4, seq_len=16, seed=seed, progress=False))


def task_adapter(tiny_models, tmp_path: Path, task: str, data: Path, lang_module: Path | None, steps: int = 6,
                 language: str = "en") -> Path:
    return train(TrainSpec(role="task", language=language, task=task, data=data, model=str(tiny_models["encoder"]),
                           method="bottleneck", lang_module=lang_module, out=tmp_path / f"task_{task}", steps=steps,
                           lr=1e-2, batch_size=4, progress=False))


@pytest.fixture(scope="module")
def madx_setup(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("madx")
    en = language_adapter(tiny_models, root, "lang_en", seed=1)
    pt = language_adapter(tiny_models, root, "lang_pt", seed=2)
    sib = write_sib(root / "sib")
    task = task_adapter(tiny_models, root, "sib200", sib, en, steps=30)
    return {"en": en, "pt": pt, "task": task, "sib": sib}


def test_task_adapter_has_its_head_and_loads_in_adapterhub(madx_setup, tiny_models):
    from adapters import AutoAdapterModel

    task = madx_setup["task"]
    manifest = json.loads((task / "langarith.json").read_text())
    assert manifest["head"] == "classification" and manifest["labels"] == ["sports", "health", "science"]
    assert manifest["lang_module"] == str(madx_setup["en"])
    losses = manifest["loss_curve"]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    model = AutoAdapterModel.from_pretrained(tiny_models["encoder"])
    name = model.load_adapter(str(task))
    assert name in model.heads and model.heads[name].config["num_labels"] == 3


def test_only_the_task_adapter_and_head_train(tiny_models, tmp_path, madx_setup):
    from langarith.madx import MadxEvaluator

    before = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    before.use_language(madx_setup["en"])
    lang = {k: v.clone() for k, v in before.model.state_dict().items() if ".lang." in k}
    from langarith.formats import load

    saved = load(madx_setup["en"])
    assert len(lang) == sum(1 for k in saved.tensors)
    for key, value in saved.tensors.items():  # the frozen English adapter is what the task adapter sat on
        model_key = next(k for k in lang if k.endswith(key.split("{adapter}")[-1]) and
                         k.startswith(key.split("{adapter}")[0].split(".", 1)[-1]) or
                         k.replace(".lang.", ".{adapter}.") == key)
        assert torch.equal(lang[model_key], torch.from_numpy(value))


def _logits(evaluator, texts):
    batch = evaluator.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        return evaluator.model(**batch).logits


def test_stack_equals_a_manual_two_adapter_forward(madx_setup, tiny_models):
    """Stack(lang, task), rebuilt by hand from the weights: the language adapter's invertible layer on the
    embeddings; in every layer, with x the attention output and h the FFN output, the language adapter reads
    LN(h + x) and adds h, the task adapter reads LN(that + x) and adds it, and the layer ends with LN(· + x)."""
    from adapters import AdapterSetup
    from adapters.composition import Stack

    from langarith.madx import LANG, MadxEvaluator

    ev = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    ev.use_language(madx_setup["pt"])
    body = ev.model.bert
    ids = ev.tokenizer(["The health news is here today."], return_tensors="pt")["input_ids"]
    with torch.no_grad(), AdapterSetup(Stack(LANG, ev.task_name)):
        stacked = body(input_ids=ids).last_hidden_state
    ev.model.set_active_adapters(None)  # else AdapterHub's hook would apply the invertible layer a second time
    with torch.no_grad():
        hidden = body.invertible_adapters[LANG](body.embeddings(input_ids=ids))
        for layer in body.encoder.layer:
            x = layer.attention(hidden)[0]
            out = layer.output
            h = out.dense(layer.intermediate(x))
            for name in (LANG, ev.task_name):
                adapter = out.adapters[name]
                h = adapter.adapter_up(adapter.adapter_down(out.LayerNorm(h + x))) * adapter.scaling + h
            hidden = out.LayerNorm(h + x)
    torch.testing.assert_close(hidden, stacked, rtol=1e-5, atol=1e-6)
    with torch.no_grad(), AdapterSetup(Stack(ev.task_name)):
        task_only = body(input_ids=ids).last_hidden_state
    assert not torch.allclose(task_only, stacked)  # the language adapter takes part


def test_la_at_lambda_one_and_zero_reproduces_each_adapter(madx_setup, tiny_models):
    from langarith.formats import load
    from langarith.madx import MadxEvaluator
    from langarith.recipes import la

    ev = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    texts = ["The health news is here.", "Sports today, science tomorrow"]
    en, pt = load(madx_setup["en"]), load(madx_setup["pt"])
    ev.use_language(madx_setup["en"])
    only_en = _logits(ev, texts)
    ev.use_language(madx_setup["pt"])
    only_pt = _logits(ev, texts)
    assert not torch.equal(only_en, only_pt)
    ev.use_language(la(en, pt, 1.0))
    assert torch.equal(_logits(ev, texts), only_en)
    ev.use_language(la(en, pt, 0.0))
    assert torch.equal(_logits(ev, texts), only_pt)
    ev.use_language(la(en, pt, 0.5))
    middle = _logits(ev, texts)
    assert not torch.equal(middle, only_en) and not torch.equal(middle, only_pt)


def test_evaluate_and_tune_on_dev(madx_setup, tiny_models):
    from langarith.formats import load
    from langarith.madx import MadxEvaluator
    from langarith.recipes import la

    ev = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    result = ev.evaluate(madx_setup["en"], "sib200", madx_setup["sib"], "eng_Latn", "test")
    assert result.n == 12 and 0.0 <= result.value <= 100.0
    assert set(result.predictions) <= {"sports", "health", "science"}
    en, pt = load(madx_setup["en"]), load(madx_setup["pt"])
    from langarith.evaluate import load_examples
    from langarith.tasks import get_task

    dev = load_examples(get_task("sib200"), madx_setup["sib"], "eng_Latn", "dev")
    found = ev.tune(lambda lam: la(en, pt, lam), get_task("sib200"), dev, "eng_Latn", None, [0.0, 0.5, 1.0], "grid")
    assert found.best in (0.0, 0.5, 1.0) and len(found.curve) == 3


def test_tagging_and_qa_heads(tiny_models, tmp_path, madx_setup):
    from langarith.madx import MadxEvaluator

    ner = task_adapter(tiny_models, tmp_path, "ner", write_ner(tmp_path / "ner"), madx_setup["en"], steps=10)
    manifest = json.loads((ner / "langarith.json").read_text())
    assert manifest["head"] == "tagging" and manifest["labels"] == ["O", "B-LOC", "B-PER", "I-PER"]
    ev = MadxEvaluator(str(tiny_models["encoder"]), ner, progress=False)
    result = ev.evaluate(madx_setup["en"], "ner", tmp_path / "ner", "en", "test")
    assert all(len(p) == 6 for p in result.predictions)  # one tag per word
    assert "f1" in result.scores.metrics

    qa = task_adapter(tiny_models, tmp_path, "qa", write_qa(tmp_path / "qa"), madx_setup["en"], steps=10)
    assert json.loads((qa / "langarith.json").read_text())["head"] == "qa"
    ev = MadxEvaluator(str(tiny_models["encoder"]), qa, progress=False)
    result = ev.evaluate(madx_setup["en"], "qa", tmp_path / "qa", "en", "test")
    context = "Lisbon is the capital of Portugal and its largest city."
    assert all(p in context for p in result.predictions)


def test_encoder_tasks_need_the_bottleneck_method(tiny_models, tmp_path):
    from langarith.train import TrainError

    with pytest.raises(TrainError, match="--method bottleneck"):
        train(TrainSpec(role="task", language="en", task="sib200", data=write_sib(tmp_path / "s"),
                        model=str(tiny_models["encoder"]), method="lora", out=tmp_path / "t", steps=1, progress=False))
