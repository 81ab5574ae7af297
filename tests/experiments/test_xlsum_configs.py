"""Paper 1's XL-Sum layout for users with the hub (configs/xlsum-*.yaml), and the ROUGE tokenizer a config names
(`rouge_tokenizer`), which the table's scores are counted on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from langarith.experiments import ExperimentError, load_config
from langarith.experiments.plan import Need

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ("xlsum-one-language", "xlsum-many-languages")


@pytest.mark.parametrize("name", CONFIGS)
def test_the_xlsum_configs_are_paper_1s_layout_in_languages_xlsum_has(name):
    from langarith.tasks.xlsum import xlsum_config

    cfg, sib = load_config(ROOT / "configs" / f"{name}.yaml", "full"), load_config(
        ROOT / "configs" / "sib200-many-languages.yaml", "full")
    assert cfg.targets == sib.targets and cfg.sources == (sib.sources if cfg.setting == "many-languages" else
                                                          ["eng_Latn"])
    assert cfg.related == (sib.related if cfg.setting == "many-languages" else {})
    names = {code: xlsum_config(code) for code in cfg.sources + cfg.targets}  # XL-Sum has every one
    assert names["zho_Hans"] == "chinese_simplified" and names["pes_Arab"] == "persian"
    assert all(name in (ROOT / "configs" / f"{cfg.name}.yaml").read_text() for name in names.values())  # the comment
    assert cfg.rouge_tokenizer == "google/mt5-small" and cfg.data_path() == Path("hf:csebuetnlp/xlsum")


def write(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load((ROOT / "configs" / "xlsum-one-language.yaml").read_text(encoding="utf-8")) | changes
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "message"), [
    ({"task": "sib200", "data": "sib200"}, r"rouge_tokenizer: task sib200 is not scored by ROUGE; leave it out \(the "
                                           r"tasks scored by ROUGE: headline, xlsum\)"),
    ({"rouge_tokenizer": "./mt5/spiece.model"}, r"rouge_tokenizer: ./mt5/spiece.model does not exist and is no "
                                                r"Hugging Face id"),
    ({"rouge_tokenizer": "google/mt5 small"}, r"google/mt5 small does not exist and is no Hugging Face id"),
    ({"rouge_tokenizer": "{file}"}, r"is a file but no SentencePiece .model"),
    ({"rouge_tokenizer": "{folder}"}, r"holds no tokenizer \(tokenizer.json, "),
])
def test_a_rouge_tokenizer_that_cannot_be_is_refused_in_one_line(tmp_path, change, message):
    (tmp_path / "notes.txt").write_text("not a tokenizer")
    (tmp_path / "empty").mkdir()
    change = {k: v.format(file=tmp_path / "notes.txt", folder=tmp_path / "empty") for k, v in change.items()}
    with pytest.raises(ExperimentError, match=message):
        load_config(write(tmp_path, **change))


def export(root: Path, configs: tuple[str, ...], n: int = 8) -> Path:
    """csebuetnlp/xlsum's parquet export (`<configuration>/<split>/0000.parquet`), `n` articles a split, none in two."""
    from datasets import Dataset

    for config in configs:
        for split in ("train", "validation", "test"):
            rows = [{"id": f"{config}_{split}_{i}", "title": f"t{i}", "url": f"u{i}",
                     "summary": f"O presidente falou {i} vezes com o povo de {split}.",
                     "text": f"O presidente da cidade falou {i} vezes com o povo de {split} sobre a escola nova."}
                    for i in range(n)]
            (root / config / split).mkdir(parents=True)
            Dataset.from_list(rows).to_parquet(str(root / config / split / "0000.parquet"))
    return root


def test_the_table_is_scored_on_the_configured_rouge_tokenizer(tmp_path, isolated_cache):
    """xlsum-one-language at smoke on a local export, ROUGE's tokenizer a tiny one of its own (60 pieces, not the
    model's 400): the evaluator cuts text into its pieces, and every cell's scores are the task's scorer on them."""
    from transformers import AutoTokenizer

    from langarith.experiments import runner_for
    from langarith.models import resolve, tiny_tokenizer

    tiny_tokenizer(tmp_path / "rouge-tok", vocab_size=60)
    configured = AutoTokenizer.from_pretrained(tmp_path / "rouge-tok")
    data = export(tmp_path / "xlsum", ("english", "portuguese"))
    cfg = load_config(write(tmp_path, data=str(data), rouge_tokenizer=str(tmp_path / "rouge-tok")), "smoke")
    cfg.targets, cfg.label_free = ["por_Latn"], ["fixed"]
    runner = runner_for(cfg, tmp_path / "run", progress=False)
    cells = runner.run()
    text, own = "O presidente falou com o povo sobre a escola.", AutoTokenizer.from_pretrained(resolve("tiny").path)
    assert runner.bench.evaluator.pieces(text) == configured.tokenize(text) != own.tokenize(text)
    examples = runner.bench.examples("por_Latn", cfg.test_split)
    for cell in cells:
        scored = runner.task.score(examples, cell.predictions, "por_Latn", configured.tokenize)
        assert cell.metrics == pytest.approx(scored.metrics) and cell.metrics["rouge_tokens"] == 1.0
    on_own = runner.task.score(examples, cells[0].predictions, "por_Latn", own.tokenize)
    assert on_own.metrics["rouge1"] != pytest.approx(cells[0].metrics["rouge1"])  # the tokenizer decides the scores


def test_checkpoint_selection_counts_rouge_on_the_configured_tokenizer(tmp_path, isolated_cache):
    """With `eval_every`, the config's `rouge_tokenizer` reaches its task modules' training (and their key), and the
    dev score recorded at the last step of a Portuguese module is what `evaluate --rouge-tokenizer` gives the saved
    module, not what the model's own pieces give."""
    import json
    from dataclasses import replace

    from langarith.evaluation import merged_evaluator
    from langarith.experiments import runner_for
    from langarith.models import tiny_tokenizer
    from langarith.training import train

    tiny_tokenizer(tmp_path / "rouge-tok", vocab_size=60)
    rouge, data = str(tmp_path / "rouge-tok"), export(tmp_path / "xlsum", ("english", "portuguese"))
    cfg = load_config(write(tmp_path, data=str(data), rouge_tokenizer=rouge), "smoke")
    plain = runner_for(cfg, tmp_path / "run", progress=False).store.spec(Need("task", "eng_Latn"))
    cfg.spend.eval_every = 3
    spec = runner_for(cfg, tmp_path / "run", progress=False).store.spec(Need("task", "eng_Latn"))
    assert (plain.rouge_tokenizer, spec.rouge_tokenizer) == (None, rouge) and spec.out != plain.out
    pt = replace(spec, language="por_Latn", out=tmp_path / "pt", steps=12, eval_every=12, lr=2e-2, dev_limit=4)
    curve = json.loads((train(pt).path / "langarith.json").read_text())["selection"]["curve"]

    def on_dev(**rouge_option) -> float:
        evaluator = merged_evaluator(pt.model, progress=False, **rouge_option)
        return evaluator.evaluate(pt.out, "xlsum", data, "por_Latn", "dev", limit=4).value

    assert curve[-1][1] == pytest.approx(on_dev(rouge_tokenizer=rouge)) != pytest.approx(on_dev())
