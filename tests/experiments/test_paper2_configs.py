"""Paper 2's setup in the MAD-X configs. Its models, XLM-R base and mBERT, by their hub ids (`langarith experiment
--model`): tiny random models of those architectures under those ids in a hub cache, read offline as transformers
reads the real ones; language adapters and the task adapter train, compose and evaluate as on the default encoder.
Its low-resource language, Assamese, in the low-resource config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import SHARED, needs
from hub_layout import in_hub_cache

ROOT = Path(__file__).resolve().parents[2]
XLMR, MBERT = "FacebookAI/xlm-roberta-base", "google-bert/bert-base-multilingual-cased"


def tiny(kind: str, folder: Path) -> Path:
    """A 2-layer random masked LM of `kind`'s architecture with the tiny tokenizer, saved as `from_pretrained`
    loads it."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

    from langarith.models import tiny_tokenizer

    tok = tiny_tokenizer(folder)
    sizes = {"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "pad_token_id": tok.pad_token_id}
    torch.manual_seed(0)
    model = XLMRobertaForMaskedLM(XLMRobertaConfig(max_position_embeddings=514, **sizes)) if kind == XLMR \
        else BertForMaskedLM(BertConfig(max_position_embeddings=512, **sizes))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hub-cache")
    for repo in (XLMR, MBERT):
        in_hub_cache(root, repo, tiny(repo, tmp_path_factory.mktemp("model")))
    return root


def write_topics(root: Path, languages: tuple[str, ...], n: int = 12) -> Path:
    """A SIB-200-like folder: `n` rows per split and language, three topics, no row in two splits."""
    topics = ["sports", "health", "science"]
    for lang in languages:
        (root / lang).mkdir(parents=True)
        (root / lang / "labels.txt").write_text("\n".join(topics) + "\n")
        for split in ("train", "dev", "test"):
            rows = [f"{i}\t{topics[i % 3]}\t{topics[i % 3]} news from the {split} desk, number {i}." for i in range(n)]
            (root / lang / f"{split}.tsv").write_text("index_id\tcategory\ttext\n" + "\n".join(rows) + "\n")
    return root


def zero_shot_config(tmp_path: Path) -> Path:
    """configs/madx-zero-shot.yaml on a small SIB-200-like folder: one target (pt), one partner (es)."""
    data = write_topics(tmp_path / "sib", ("eng_Latn", "por_Latn", "spa_Latn"))
    raw = yaml.safe_load((ROOT / "configs" / "madx-zero-shot.yaml").read_text(encoding="utf-8"))
    raw |= {"data": str(data), "targets": ["por_Latn"], "pool": ["spa_Latn"], "text": ["tatoeba:{lang}"],
            "label_free": []}
    path = tmp_path / "zero-shot.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(("repo", "model_type"), [(XLMR, "xlm-roberta"), (MBERT, "bert")])
def test_paper_2s_models_train_compose_and_evaluate_through_a_madx_config(hub, tmp_path, isolated_cache, repo,
                                                                         model_type):
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "LANGARITH_CACHE": str(isolated_cache),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}  # this checkout's
    run = subprocess.run([sys.executable, "-m", "langarith", "experiment", str(zero_shot_config(tmp_path)),
                          "--budget", "smoke", "--model", repo, "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "runs" / f"madx-zero-shot-smoke-{repo.split('/')[1]}"  # the model names the default folder
    assert json.loads(run.stdout)["results"] == str(Path("runs") / out.name)
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["model"] == repo and results["config"]["budgets"]["smoke"]["model"] is None
    rows = {(c["method"], c["target"]) for c in results["cells"]}
    assert {("madx-en", "por_Latn"), ("madx-rel", "por_Latn"), ("la", "por_Latn")} <= rows
    manifests = [json.loads(p.read_text()) for p in (out / "modules").glob("*/langarith.json")]
    assert sorted((m["role"], m["language"]) for m in manifests) == [
        ("language", "eng_Latn"), ("language", "spa_Latn"), ("task", "eng_Latn")]
    for manifest in manifests:
        assert (manifest["base"]["hub_id"], manifest["model"]["type"]) == (repo, model_type)
        assert manifest["method"]["options"]["config"] == ("seq_bn" if manifest["role"] == "task" else "seq_bn_inv")
    task = next(m for m in manifests if m["role"] == "task")
    assert task["head"] == "classification" and "eng_Latn" in task["lang_module"]  # on the English adapter


@needs(SHARED / "sib200")
def test_assamese_is_a_low_resource_target_whose_adapters_learn_sib200s_text(tmp_path, isolated_cache):
    """Assamese, the language of paper 2's low-resource study: of the config's text sources only SIB-200's train
    sentences hold it, and each token budget's adapter is cut from them."""
    from langarith.experiments import load_config, runner_for
    from langarith.languages.corpora import text_sources

    cfg = load_config(ROOT / "configs" / "madx-low-resource.yaml", "smoke")
    assert "asm_Beng" in cfg.targets
    assert [spec for spec, why in text_sources(cfg.text, "asm_Beng").items() if why is None] == ["sib200:asm_Beng"]
    cfg.targets, cfg.label_free = ["asm_Beng"], ["fixed"]
    cells = runner_for(cfg, tmp_path / "run", progress=False).run()
    assert [c.method for c in cells] == cfg.rows and {c.target for c in cells} == {"asm_Beng"}
    adapters = [m for p in (tmp_path / "run" / "modules").glob("*/langarith.json")
                if (m := json.loads(p.read_text()))["language"] == "asm_Beng"]
    assert sorted(m["max_text_tokens"] for m in adapters) == cfg.spend.token_budgets
    assert all([s["spec"] for s in m["sources"]] == ["sib200:asm_Beng"] for m in adapters)
