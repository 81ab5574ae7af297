"""MAD-X on a tiny random encoder: task adapters with heads on a frozen language adapter, Stack inference,
and language arithmetic in the language slot."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import SHARED, needs, write_sib

from langarith.training import TrainSpec, train


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
                           steps=2, lr=5e-2, batch_size=4, seq_len=16, seed=seed, progress=False)).path


def task_adapter(tiny_models, tmp_path: Path, task: str, data: Path, lang_module: Path | None, steps: int = 6,
                 language: str = "en") -> Path:
    return train(TrainSpec(role="task", language=language, task=task, data=data, model=str(tiny_models["encoder"]),
                           method="bottleneck", lang_module=lang_module, out=tmp_path / f"task_{task}", steps=steps,
                           lr=1e-2, batch_size=4, progress=False)).path


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


def test_the_language_adapter_stays_frozen_under_the_task_adapter(madx_setup, tiny_models, tmp_path):
    from langarith.methods.bottleneck import LANG, NAME
    from langarith.models.heads import load_model

    out, model = (made := train(TrainSpec(role="task", language="en", task="sib200", data=madx_setup["sib"],
                                 model=str(tiny_models["encoder"]), method="bottleneck", lang_module=madx_setup["en"],
                                 out=tmp_path / "t", steps=3, lr=1e-1, batch_size=4, progress=False))).path, made.model
    trained = {k: v for k, v in model.state_dict().items() if f".{LANG}." in k}
    fresh = load_model(str(tiny_models["encoder"]))
    fresh.load_adapter(str(madx_setup["en"]), load_as=LANG, with_head=False)
    original = {k: v for k, v in fresh.state_dict().items() if f".{LANG}." in k}
    assert trained and trained.keys() == original.keys()
    assert all(torch.equal(trained[k], original[k]) for k in trained)
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["name"] == NAME and (out / "head_config.json").exists()


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

    from langarith.evaluation.madx import LANG, MadxEvaluator

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
    from langarith.arith.formats import load
    from langarith.arith.recipes import la
    from langarith.evaluation import MadxEvaluator

    ev = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    texts = ["The health news is here.", "Sports today, science tomorrow"]
    en, pt = load(madx_setup["en"]), load(madx_setup["pt"])
    ev.use_language(madx_setup["en"])
    only_en = _logits(ev, texts)
    ev.use_language(madx_setup["pt"])
    only_pt = _logits(ev, texts)
    assert not torch.equal(only_en, only_pt)
    ev.use_language(la(en, pt, lam=1.0))
    assert torch.equal(_logits(ev, texts), only_en)
    ev.use_language(la(en, pt, lam=0.0))
    assert torch.equal(_logits(ev, texts), only_pt)
    ev.use_language(la(en, pt, lam=0.5))
    middle = _logits(ev, texts)
    assert not torch.equal(middle, only_en) and not torch.equal(middle, only_pt)


def test_the_slot_takes_modules_in_place_as_the_folder_loader_would(madx_setup, tiny_models, monkeypatch):
    """Copying modules into the language slot writes no folder and adds the slot's adapter once, and every logit
    equals the one AdapterHub's loader gives from the saved folder; the base and the task adapter stay as they
    were, and a module swapped back in gives its logits again."""
    import tempfile

    from langarith.arith.formats import load
    from langarith.arith.recipes import la
    from langarith.evaluation import MadxEvaluator
    from langarith.evaluation.madx import LANG

    def refuse(*args, **kwargs):
        raise AssertionError("the language slot was loaded from a folder")

    texts = ["The health news is here.", "Sports today, science tomorrow"]
    en, pt = load(madx_setup["en"]), load(madx_setup["pt"])
    sweep = [la(en, pt, lam=0.3), madx_setup["en"], None, la(en, pt, lam=0.8), madx_setup["pt"], madx_setup["en"]]
    in_place = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    from_folders = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    monkeypatch.setattr(from_folders, "_copy_into_slot", lambda module: False)
    fixed = {k: v.clone() for k, v in in_place.model.state_dict().items() if f".{LANG}." not in k}
    added, add = [], in_place.model.add_adapter
    monkeypatch.setattr(in_place.model, "add_adapter", lambda *args, **kwargs: added.append(args) or add(*args,
                                                                                                          **kwargs))
    got = []
    with monkeypatch.context() as mp:
        mp.setattr(tempfile, "TemporaryDirectory", refuse)
        mp.setattr(in_place.model, "load_adapter", refuse)
        for module in sweep:
            in_place.use_language(module)
            got.append(_logits(in_place, texts))
    for module, logits in zip(sweep, got, strict=True):
        from_folders.use_language(module)
        assert torch.equal(logits, _logits(from_folders, texts))
    assert torch.equal(got[1], got[-1]) and not torch.equal(got[1], got[0])
    assert len(added) == 1
    after = in_place.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in fixed.items())


def test_evaluate_and_tune_on_dev(madx_setup, tiny_models):
    from langarith.arith.formats import load
    from langarith.arith.recipes import la
    from langarith.evaluation import MadxEvaluator

    ev = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    result = ev.evaluate(madx_setup["en"], "sib200", madx_setup["sib"], "eng_Latn", "test")
    assert result.n == 12 and 0.0 <= result.value <= 100.0
    assert set(result.predictions) <= {"sports", "health", "science"}
    en, pt = load(madx_setup["en"]), load(madx_setup["pt"])
    from langarith.evaluation import load_examples
    from langarith.tasks import get_task

    dev = load_examples(get_task("sib200"), madx_setup["sib"], "eng_Latn", "dev")
    found = ev.tune(lambda lam: la(en, pt, lam=lam), get_task("sib200"), dev, "eng_Latn", None, [0.0, 0.5, 1.0], "grid")
    assert found.best in (0.0, 0.5, 1.0) and len(found.curve) == 3


def test_a_test_label_the_head_never_learned_is_refused_not_scored_wrong(madx_setup, tiny_models, tmp_path):
    from langarith.evaluation import EvaluationError, MadxEvaluator

    other = write_sib(tmp_path / "sib", "por_Latn", n=3) / "por_Latn"
    (other / "labels.txt").write_text("sports\nhealth\nscience\nweather\n")
    with (other / "test.tsv").open("a") as f:
        f.write("99\tweather\tChove muito hoje.\n")  # a label the English task adapter's head has no output for
    ev = MadxEvaluator(str(tiny_models["encoder"]), madx_setup["task"], progress=False)
    with pytest.raises(EvaluationError, match=r"labels \['weather'\] that the task adapter's head never learned"):
        ev.evaluate(madx_setup["pt"], "sib200", tmp_path / "sib", "pt", "test")


def test_tagging_and_qa_heads(tiny_models, tmp_path, madx_setup):
    from langarith.evaluation import MadxEvaluator

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
    from langarith.training import TrainError

    with pytest.raises(TrainError, match="--method bottleneck"):
        train(TrainSpec(role="task", language="en", task="sib200", data=write_sib(tmp_path / "s"),
                        model=str(tiny_models["encoder"]), method="lora", out=tmp_path / "t", steps=1, progress=False))


@needs(SHARED / "sib200")
@pytest.mark.parametrize("setting", ["zero-shot", "enhancement", "low-resource", "relatedness", "ties"])
def test_language_arithmetic_configs_run_end_to_end_at_smoke(setting, tmp_path, isolated_cache):
    """Every shipped MAD-X config at its smoke budget (tiny random encoder), on one target and two partners."""
    import csv

    from langarith.experiments import load_config, runner_for

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "configs" / f"madx-{setting}.yaml", "smoke")
    cfg.targets, cfg.pool = cfg.targets[:1], cfg.pool[:2]
    cfg.label_free = [s for s in cfg.label_free if s != "transfer"]  # one target: no other to transfer λ from
    runner = runner_for(cfg, tmp_path / "run", progress=False)
    cells = runner.run()
    assert [c.method for c in cells] == cfg.rows
    for name in ("results.md", "results.csv", "results.json", "analysis/density.png", "analysis/report.md",
                 "improvement.png"):
        assert (tmp_path / "run" / name).exists(), name
    with (tmp_path / "run" / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(cfg.rows)
    lam = {c.method: c.lam for c in cells}
    if setting == "ties":
        assert 0.8 <= lam["ties-20"] <= 1.8
    if setting == "zero-shot":  # the proxies are LA's ends, and best-proxy is one of them
        best = next(c for c in cells if c.method == "best-proxy")
        assert best.score in {c.score for c in cells if c.method in ("madx-en", "madx-rel")}
        manifests = [json.loads(p.read_text()) for p in (tmp_path / "run" / "modules").glob("*/langarith.json")]
        assert {m["method"]["options"]["config"] for m in manifests if m["role"] == "language"} == {"seq_bn_inv"}
        # the plots compare θ − θ₀, with θ₀ rebuilt exactly (fingerprint-checked) from how training began
        languages = [m for m in runner.store.loaded() if m.role == "language"]
        assert len(languages) == 2 and (tmp_path / "run" / "analysis" / "cosine_heatmap.png").exists()
        for module in languages:
            delta = runner.family.analysis(module, runner.store.start(module))
            assert delta.kind.endswith("Δθ") and delta.tensors.keys() == module.tensors.keys()
            assert not all(np.array_equal(delta.tensors[k], module.tensors[k]) for k in module.tensors)


def test_language_arithmetic_config_errors(tmp_path):
    from langarith.experiments import ExperimentError, load_config

    root = Path(__file__).resolve().parents[2]
    text = (root / "configs" / "madx-zero-shot.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("method: bottleneck", "method: lora"))
    with pytest.raises(ExperimentError, match="set method: bottleneck"):
        load_config(bad)
    bad.write_text(text.replace("pool: [spa_Latn, fra_Latn, rus_Cyrl, hin_Deva]", "pool: []"))
    with pytest.raises(ExperimentError, match="needs a pool"):
        load_config(bad)


def test_row_names():
    from langarith.experiments import SETTINGS
    from langarith.experiments.settings.low_resource import budget_label

    assert [budget_label(b) for b in (64, 10_000, 1_000_000, 1500)] == ["64", "10k", "1M", "1500"]
    config = SimpleNamespace(spend=SimpleNamespace(token_budgets=[10_000]), pool=["sw", "hi"])
    assert SETTINGS["low-resource"].rows(config) == ["madx-en", "direct-10k", "la-en-10k"]
    assert SETTINGS["relatedness"].rows(config) == ["madx-en", "la-sw", "la-hi"]
    assert SETTINGS["low-resource"].control("la-en-10k") == "direct-10k" and SETTINGS["ties"].control("ties-20") == "la"


def test_an_encoder_without_mlm_head_gets_one_shared_frozen_head(tmp_path, isolated_cache):
    """e5 ships no MLM head: one is trained once per base model (body frozen), cached, and every language
    adapter then trains under that same frozen head."""
    from transformers import BertConfig, BertModel

    from langarith.models import tiny_tokenizer

    folder = tmp_path / "bert-no-head"
    tok = tiny_tokenizer(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, pad_token_id=tok.pad_token_id), add_pooling_layer=False
              ).save_pretrained(folder)

    def adapter(lang: str) -> dict:
        out = train(TrainSpec(role="language", language=lang, text=[f"tatoeba:{lang}"], model=str(folder),
                              method="bottleneck", out=tmp_path / lang, steps=2, batch_size=4, seq_len=16,
                              progress=False)).path
        return json.loads((out / "langarith.json").read_text())

    pt = adapter("pt")
    head = Path(pt["mlm_head"]["file"])
    made = head.stat().st_mtime_ns
    es = adapter("es")
    assert pt["fresh_mlm_head"] and pt["mlm_head"]["frozen"] and es["mlm_head"]["file"] == str(head)
    assert head.stat().st_mtime_ns == made  # trained once, then read
    from safetensors.torch import load_file

    assert "predictions.decoder.weight" not in load_file(head)  # tied to the embeddings: never trained


def test_cli_evaluates_a_stack_and_searches_la(madx_setup, tiny_models, tmp_path):
    from typer.testing import CliRunner

    from langarith.cli import app

    model, sib = str(tiny_models["encoder"]), str(madx_setup["sib"])
    run = CliRunner().invoke(app, ["evaluate", "--model", model, "--module", str(madx_setup["task"]), "--lang-module",
                                   str(madx_setup["pt"]), "--task", "sib200", "--lang", "eng_Latn", "--data", sib,
                                   "--json"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["n"] == 12
    out = tmp_path / "la"
    run = CliRunner().invoke(app, ["search-lambda", "--recipe", "la", "--lang-module", f"en={madx_setup['en']}",
                                   "--lang-module", f"pt={madx_setup['pt']}", "--target", "eng_Latn",
                                   "--task", "sib200", "--data", sib, "--madx-task", str(madx_setup["task"]),
                                   "--model", model, "--step", "0.5", "--strategy", "grid", "--out", str(out),
                                   "--json"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    found = json.loads(run.output)
    assert [lam for lam, _ in found["curve"]] == [0.0, 0.5, 1.0]
    assert (out / "adapter_config.json").exists()  # an AdapterHub language adapter, loadable under the task adapter
    from langarith.evaluation import MadxEvaluator

    MadxEvaluator(model, madx_setup["task"], progress=False).use_language(out)


@needs(SHARED / "sib200")
def test_seeds_run_the_table_once_each_and_report_mean_and_sd(tmp_path, isolated_cache):
    import csv

    from langarith.experiments import load_config, run

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "configs" / "madx-zero-shot.yaml", "smoke")
    cfg.targets, cfg.pool = cfg.targets[:1], cfg.pool[:1]
    cfg.label_free = [s for s in cfg.label_free if s != "transfer"]  # one target: no other to transfer λ from
    cfg.budgets["smoke"].seeds = [0, 1]
    run(cfg, tmp_path / "run", progress=False)
    for seed in (0, 1):
        assert (tmp_path / "run" / f"seed-{seed}" / "results.md").exists()
    seed_manifests = {json.loads(p.read_text())["seed"]
                      for p in (tmp_path / "run").glob("seed-*/modules/*/langarith.json")}
    assert seed_manifests == {0, 1}  # modules retrained per seed
    with (tmp_path / "run" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == set(cfg.rows) and all(r["seeds"] == "2" for r in rows)
    for r in rows:
        values = [float(v) for v in r["scores"].split()]
        assert float(r["mean"]) == pytest.approx(sum(values) / 2, abs=0.01)  # scores are written to 2 decimals
    assert "± " in (tmp_path / "run" / "results.md").read_text()


@pytest.mark.skipif(not (SHARED / "wikiann").exists(), reason="needs the shared WikiANN data")
def test_task_vectors_compare_language_and_task_vectors(tmp_path, isolated_cache):
    """Paper 2's Appendix E at the smoke budget: one task adapter per target next to the language adapters, both
    kinds measured as Δθ = θ − θ₀ with θ₀ rebuilt as training seeded it (a task adapter trained with lr 1e-30 has
    Δθ ≈ 0; a wrong start gives |Δθ| ≈ 0.07), and the report's table of mean cosine and density per kind."""
    from langarith.experiments import load_config, runner_for
    from langarith.experiments.plan import task

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "madx-task-vectors-wikiann.yaml", "smoke")
    runner = runner_for(cfg, tmp_path / "run", progress=False)
    cells = runner.run()
    assert [(c.method, c.target) for c in cells] == [(m, t) for t in ("ar", "ur") for m in ("madx-en", "in-language")]
    assert {c.note for c in cells if c.method == "in-language"} == {"ar's own task adapter", "ur's own task adapter"}
    report = (tmp_path / "run" / "results.md").read_text()
    assert "Appendix E" in report and "| task | 3 |" in report and "| language | 3 |" in report
    assert "Over the 3 pairs of ar, en, ur" in report and "Pearson r = " in report
    assert "λ" not in report.split("|")[0]  # no λ rows: no λ said
    analysis = tmp_path / "run" / "analysis"
    assert (analysis / "cosine_heatmap.png").exists() and "Appendix E" in (analysis / "report.md").read_text()
    vectors = runner.analysis_vectors()
    assert sorted((v.role, v.language) for v in vectors) == [(role, lang) for role in ("language", "task")
                                                             for lang in ("ar", "en", "ur")]
    cfg.budgets["smoke"].lr = 1e-30  # another cache key: a new task adapter, trained but not moved (lr > 0 needed)
    again = runner_for(cfg, tmp_path / "run", progress=False)
    again.store.train([task("ar")])
    still = again.store.load(task("ar"))
    delta = again.family.analysis(still, again.store.start(still))
    assert delta.kind.endswith("Δθ") and max(float(np.abs(t).max()) for t in delta.tensors.values()) < 1e-20
