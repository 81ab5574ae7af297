"""The experiment runner end to end on the tiny model: every output file, control rows, λ = 1 equal to the
baseline, λ search blind to test data; config validation errors."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import SHARED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langarith.experiments import SETTINGS, Cell, ExperimentError, load_config
from langarith.experiments.bench import Bench
from langarith.experiments.runner import Runner
from langarith.experiments.settings.many_languages import TAUS
from langarith.experiments.table import other_metrics
from langarith.tasks import get_task

pytestmark = pytest.mark.skipif(not (SHARED / "sib200").exists(), reason="needs the shared SIB-200 data")

SMOKE = {"model": "tiny", "task_steps": 2, "language_steps": 2, "dev_limit": 6, "test_limit": 8,
         "lambda_step": 0.5, "batch_size": 4, "seq_len": 16}


def write(tmp_path: Path, **changes) -> Path:
    config = {"name": "t", "setting": "one-language", "task": "sib200", "data": "sib200", "sources": ["en"],
              "targets": ["pt"], "budget": "smoke", "budgets": {"smoke": SMOKE}, **changes}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def spy_splits(monkeypatch):
    """Every split the runner reads, and whether it was read while λ was being searched."""
    seen: list[tuple[str, bool]] = []
    state = {"tuning": False}
    examples, tune = Bench.examples, Bench.tune

    def spy_examples(self, language, split):
        seen.append((split, state["tuning"]))
        return examples(self, language, split)

    def spy_tune(self, build, target, grid=None):
        state["tuning"] = True
        try:
            return tune(self, build, target, grid)
        finally:
            state["tuning"] = False

    monkeypatch.setattr(Bench, "examples", spy_examples)
    monkeypatch.setattr(Bench, "tune", spy_tune)
    return seen


def test_one_language_end_to_end(tmp_path, isolated_cache, spy_splits):
    from langarith.core import devices

    cfg = load_config(write(tmp_path, reproduces="paper 1, Figure 9"))
    runner = Runner(cfg, tmp_path / "out", progress=False)
    cells = runner.run()
    out = tmp_path / "out"
    for name in ("results.csv", "results.json", "results.md", "config.json", "lambda_pt.png",
                 "analysis/cosine_heatmap.png", "analysis/density.png", "analysis/report.md"):
        assert (out / name).stat().st_size > 0, name
    assert [c.method for c in cells] == ["baseline", "task-scaled", "add", "add-subtract"]
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "| task-scaled |" in table and "| method | pt | Avg |" in table
    assert table.splitlines()[2] == "Reproduces paper 1, Figure 9."  # under the title
    assert "**macro_f1**" in table and "**accuracy**" not in table  # secondary metrics get their own table
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert {r["method"] for r in rows} == {"baseline", "task-scaled", "add", "add-subtract"}
    assert all(r["p_vs_control"] != "" for r in rows if r["method"] in ("add", "add-subtract"))
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["metric"] == "accuracy" and all(c["curve"] for c in saved["cells"] if c["lambda"] is not None)
    assert saved["device"]["type"] == "cpu" and saved["device"]["name"] and saved["complete"] is True
    assert saved["precision"] == {"train": "fp32", "eval": "fp32"} and saved["not_run"] == []
    assert saved["date"] and saved["versions"].get("langarith_commit") == devices.source_commit()
    inputs = {i["name"]: i for i in saved["inputs"]}  # what it read, by absolute path and content
    assert inputs["config"] == {"name": "config", "path": str(tmp_path / "c.yaml"),
                                "sha256": hashlib.sha256((tmp_path / "c.yaml").read_bytes()).hexdigest()}
    assert inputs["data"]["path"] == str(SHARED / "sib200") and len(inputs["data"]["sha256"]) == 64
    assert saved["commit"] == devices.source_commit() and saved["cwd"] and saved["call"]["function"]
    assert {"train", "compose", "tune", "test"} <= set(saved["stages_s"])
    modules = {(m["role"], m["language"]): m for m in saved["modules"]}  # how each module trained
    assert set(modules) == {("task", "en"), ("language", "en"), ("language", "pt")}
    assert all(m["steps"] and m["loss_start"] and m["loss_end"] for m in modules.values())
    assert modules[("language", "pt")]["heldout_before"] and "| language pt |" in table.split("## Modules")[1]
    for cell in cells[1:]:  # λ = 1 is in every grid, and there every recipe is the baseline itself
        assert dict(cell.curve)[1.0] == runner.dev_lines["pt"]["baseline (dev)"]
    assert ("test", True) not in spy_splits and ("dev", True) in spy_splits


def test_other_metrics_tables_skip_the_primary_and_bookkeeping():
    cells = [Cell("baseline", t, 10.0, {"rouge2": 10.0, "chrf": c, "off_target": o, "rouge_tokens": 1.0})
             for t, c, o in (("swa", 30.0, 5.0), ("hau", 40.0, 0.0))]
    cells.append(Cell("add", "swa", 11.0, {"rouge2": 11.0, "chrf": 31.0, "off_target": 2.5}))
    text = "\n".join(other_metrics(cells, ["baseline", "add"], ["swa", "hau"], "rouge2"))
    assert "**chrf**" in text and "**off_target**" in text and "rouge2**" not in text and "rouge_tokens" not in text
    assert "| baseline | 30.0 | 40.0 | 35.0 |" in text and "| baseline | 5.0 | 0.0 | 2.5 |" in text
    assert "| add | 31.0 | – | – |" in text  # a missing cell leaves the average out rather than biasing it


def test_lambda_one_reproduces_the_baseline_exactly(tmp_path, isolated_cache):
    from langarith.arith.recipes import add_subtract
    from langarith.experiments.plan import language, task

    runner = Runner(load_config(write(tmp_path)), tmp_path / "out", progress=False)
    needs = {"task": task("en"), "target": language("pt"), "source": language("en")}
    runner.store.train(list(needs.values()))
    modules = {k: runner.store.load(need) for k, need in needs.items()}
    base = runner.bench.test(modules["task"], "pt").scores
    composed = runner.bench.test(add_subtract(**modules, lam=1.0).materialize("factor"), "pt").scores
    scaled = runner.bench.test((1.0 * modules["task"]).materialize("factor"), "pt").scores
    assert composed.per_example == base.per_example == scaled.per_example
    assert composed.value == base.value


def test_many_languages_rows_and_random_control(tmp_path, isolated_cache):
    path = write(tmp_path, setting="many-languages", sources=["en", "id", "ar"], targets=["pt"],
                 methods=["best-single", "multilingual", "add-all", "add-related", "add-random", "add-weighted"])
    runner = Runner(load_config(path), tmp_path / "out", progress=False)
    by = {c.method: c for c in runner.run()}
    assert set(by) == {"best-single", "multilingual", "add-all", "add-related", "add-random", "add-weighted"}
    assert "best on dev" in by["best-single"].note and "draws of" in by["add-random"].note
    tau = re.search(r"τ = (\S+) \(best on dev\)", by["add-weighted"].note).group(1)
    assert float(tau) in TAUS and f"add-weighted (τ = {tau}, dev)" in runner.dev_lines["pt"]
    assert by["add-related"].p_control is not None and by["add-related"].p_baseline is not None


def test_in_language_rows_train_each_method_and_evaluate_the_full_model_as_a_model(tmp_path, isolated_cache):
    path = write(tmp_path, setting="in-language", sources=["en", "sw"], targets=["sw"],
                 budgets={"smoke": {**SMOKE, "targets": ["sw"]}})
    runner = Runner(load_config(path), tmp_path / "out", progress=False)
    cells = {c.method: c for c in runner.run()}
    assert list(cells) == ["base", "lora", "lokr", "lora-multilingual", "lokr-multilingual", "full"]
    methods = {json.loads((f / "langarith.json").read_text())["method"]["name"]: f.name
               for f in (tmp_path / "out" / "modules").iterdir() if (f / "langarith.json").exists()}
    assert set(methods) == {"lora", "lokr", "full"}
    full = tmp_path / "out" / "modules" / methods["full"]
    assert (full / "config.json").exists() and (full / "tokenizer.json").exists()
    assert cells["lora"].p_control is not None and cells["lora"].p_baseline is not None  # against base and full
    assert cells["full"].p_control is None and cells["base"].p_baseline is not None


def test_label_free_rows_never_read_a_target_label(tmp_path, isolated_cache, monkeypatch):
    """The unlabeled search is handed rows whose labels, targets and golds are gone, and the task's scorer never
    sees one of them; transfer takes the other target's dev-tuned λ; each twin is tested against its row."""
    from langarith.evaluation import DecoderEvaluator
    from langarith.tasks.sib200 import Sib200

    handed, real_tune, real_score = [], DecoderEvaluator.tune, Sib200.score

    def spy_tune(self, build, task, dev, language, labels, grid, strategy, seed=0):
        if strategy == "unlabeled":
            assert all(e.label is None and e.gold is None and e.target == "" for e in dev)
            handed.extend(dev)  # held, so that no later example can take one of their ids
        return real_tune(self, build, task, dev, language, labels, grid, strategy, seed)

    def spy_score(self, examples, predictions, language, tokenize=None):
        assert not {id(e) for e in examples} & {id(e) for e in handed}, "a label-free row was scored"
        return real_score(self, examples, predictions, language, tokenize)

    monkeypatch.setattr(DecoderEvaluator, "tune", spy_tune)
    monkeypatch.setattr(Sib200, "score", spy_score)
    path = write(tmp_path, targets=["pt", "es"], label_free=["unlabeled", "transfer", "fixed"],
                 methods=["baseline", "add", "add@unlabeled", "add@transfer", "add@fixed"])
    cells = {(c.method, c.target): c for c in Runner(load_config(path), tmp_path / "out", progress=False).run()}
    assert handed and len(cells) == 10
    assert cells["add@transfer", "pt"].lam == cells["add", "es"].lam  # the one other target's λ
    assert cells["add@fixed", "es"].lam == 0.5 and cells["add@unlabeled", "pt"].evaluations == 3
    assert all(cells[f"add@{s}", t].p_control is not None and cells[f"add@{s}", t].p_baseline is not None
               for s in ("unlabeled", "transfer", "fixed") for t in ("pt", "es"))
    assert "chose it without the target's labels" in (tmp_path / "out" / "results.md").read_text(encoding="utf-8")


def test_a_budget_may_run_a_subset_of_the_targets(tmp_path):
    cfg = load_config(write(tmp_path, targets=["pt", "es"], budgets={"smoke": {**SMOKE, "targets": ["es"]}}))
    assert cfg.targets == ["es"] and json.loads(cfg.model_dump_json())["targets"] == ["es"]


def test_a_budget_passes_the_optimizer_knobs_it_sets_and_leaves_the_other_modules_where_they_were(tmp_path):
    plain = Runner(load_config(write(tmp_path)), tmp_path / "out", progress=False).to_train()
    knobs = {"warmup": 0.1, "schedule": "cosine", "clip": 1.0, "grad_accum": 2}
    tuned = Runner(load_config(write(tmp_path, budgets={"smoke": {**SMOKE, **knobs}})), tmp_path / "out",
                   progress=False).to_train()
    assert {(s.warmup, s.schedule, s.clip, s.grad_accum) for s in plain} == {(0, "constant", None, 1)}
    assert {(s.warmup, s.schedule, s.clip, s.grad_accum) for s in tuned} == {(0.1, "cosine", 1.0, 2)}
    assert not {s.out for s in plain} & {s.out for s in tuned}  # other modules, other folders
    assert sorted(s.out.name.rsplit("_", 1)[0] for s in plain) == sorted(s.out.name.rsplit("_", 1)[0] for s in tuned)


def test_a_budget_passes_checkpoint_selection_and_epochs_to_the_modules_it_sets_them_for(tmp_path):
    plain = Runner(load_config(write(tmp_path)), tmp_path / "out", progress=False).to_train()
    chosen = {"eval_every": 1, "keep": "best", "task_epochs": 2}
    tuned = Runner(load_config(write(tmp_path, budgets={"smoke": {**SMOKE, **chosen}})), tmp_path / "out",
                   progress=False).to_train()
    assert {(s.eval_every, s.keep, s.epochs) for s in plain} == {(None, "last", None)}
    assert {(s.eval_every, s.keep) for s in tuned} == {(1, "best")}
    assert {(s.steps, s.epochs) for s in tuned if s.role == "task"} == {(None, 2)}
    assert {(s.role, s.dev_limit) for s in plain + tuned} == {("task", None), ("language", None),
                                                               ("task", SMOKE["dev_limit"])}  # the table's dev rows
    assert not {s.out for s in plain} & {s.out for s in tuned}
    with pytest.raises(ExperimentError, match="give eval_every"):
        load_config(write(tmp_path, budgets={"smoke": {**SMOKE, "keep": "best"}}))


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ({"methods": ["add-all"]}, "do not exist for setting one-language"),
    ({"budget": "full"}, "budget 'full' is not defined"),
    ({"task": "nli"}, "unknown task 'nli'"),
    ({"sources": ["en", "fr"]}, "exactly one source"),
    ({"budgets": {"smoke": {**SMOKE, "language_tokens": 5}}}, "language_steps or language_tokens"),
    ({"dev_split": "Test"}, "is the test split: λ would be tuned on the rows it is scored on"),
    ({"dev_split": "test", "test_split": "test"}, "is the test split"),
    ({"train_split": {"pt": "test"}}, "trains on the test split of a target"),
    ({"targets": ["por_Latn", "pt"]}, "targets names one language twice: por_Latn and pt"),
    ({"targets": ["pt", "zz"]}, "zz"),
    ({"budgets": {"smoke": {**SMOKE, "targets": ["de"]}}}, r"targets \['de'\] are not among"),
    ({"setting": "in-language", "sources": ["en", "sw"], "targets": ["en", "pt"]}, "targets pt are not among"),
    ({"label_free": ["entropy"]}, r"unknown strategies \['entropy'\]"),
    ({"label_free": ["transfer"]}, "at least two targets"),
])
def test_config_errors_name_the_problem(tmp_path, change, message):
    with pytest.raises(ExperimentError, match=message):
        load_config(write(tmp_path, **change))


def test_missing_config_says_where_to_look(tmp_path):
    with pytest.raises(ExperimentError, match="configs/"):
        load_config(tmp_path / "nope.yaml")


CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_validate_at_every_budget(path):
    for budget in ("smoke", "cpu", "full"):
        cfg = load_config(path, budget)
        tiny = "tiny-encoder" if SETTINGS[cfg.setting].family.method == "bottleneck" else "tiny"
        assert cfg.spend.model == (tiny if budget == "smoke" else None)
        where = cfg.data_path()  # the local copy, or for a dataset not in the shared data (XL-Sum) the hub's
        assert where.exists() or not SHARED.exists() or str(where) == f"hf:{get_task(cfg.task).hub}"
    assert cfg.reproduces and cfg.reproduces.startswith("paper ")  # results.md names the paper's table or figure


PINNED = Path(__file__).resolve().parent / "pinned"


@pytest.mark.parametrize("name", ["sib200-one-language", "sib200-many-languages", "madx-zero-shot"])
def test_shipped_configs_run_at_smoke_and_give_their_pinned_results(tmp_path, isolated_cache, name):
    """One config per setting family (decoder one-language, decoder many-languages, MAD-X): results.csv as the
    code before the package redesign wrote it, to the byte, with the label-free twins (`ROW@STRATEGY`) added
    later between its rows, which left every earlier row as it was."""
    from langarith.experiments import runner_for

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml", "smoke")
    cells = runner_for(cfg, tmp_path / "out", progress=False).run()
    assert {c.target for c in cells} == set(cfg.targets) and (tmp_path / "out" / "results.md").exists()
    assert (tmp_path / "out" / "results.csv").read_text() == (PINNED / f"{name}-smoke.csv").read_text()


def test_a_deadline_leaves_complete_results_and_the_rerun_continues(tmp_path, isolated_cache, monkeypatch):
    from langarith.core import timing
    from langarith.experiments.cells import FinishedCells

    path = write(tmp_path)
    Runner(load_config(path), tmp_path / "straight", progress=False).run()
    real_add, real_left = FinishedCells.add, timing.left

    def add_then_expire(self, cell):  # the deadline passes once two cells are finished
        real_add(self, cell)
        if len(self._stored) == 2:
            monkeypatch.setattr(timing, "left", lambda: -1.0)

    monkeypatch.setattr(FinishedCells, "add", add_then_expire)
    out = tmp_path / "cut"
    runner = Runner(load_config(path), out, progress=False)
    assert [c.method for c in runner.run()] == ["baseline", "task-scaled"] and runner.stopped
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["complete"] is False and saved["not_run"] == ["add / pt", "add-subtract / pt"]
    report = (out / "results.md").read_text(encoding="utf-8")
    assert "Incomplete: stopped at its deadline" in report and "| add | not run | – |" in report

    monkeypatch.setattr(FinishedCells, "add", real_add)
    monkeypatch.setattr(timing, "left", real_left)
    tested = []
    real_tested = Runner.tested
    monkeypatch.setattr(Runner, "tested", lambda self, method, *a, **k: tested.append(method) or
                        real_tested(self, method, *a, **k))
    Runner(load_config(path), out, progress=False).run()
    assert tested == ["add", "add-subtract"]  # the finished cells are read back, not evaluated again
    assert (out / "results.csv").read_text() == (tmp_path / "straight" / "results.csv").read_text()


def test_dev_rows_that_are_test_rows_stop_the_run(tmp_path):
    import shutil

    data = tmp_path / "sib"
    for lang in ("eng_Latn", "por_Latn"):
        shutil.copytree(SHARED / "sib200" / lang, data / lang)
    shutil.copy(data / "por_Latn" / "test.tsv", data / "por_Latn" / "dev.tsv")
    runner = Runner(load_config(write(tmp_path, data=str(data))), tmp_path / "out", progress=False)
    runner.bench.examples("pt", "dev")
    with pytest.raises(ExperimentError, match="6 of the 6 dev rows of pt are test rows"):
        runner.bench.examples("pt", "test")


def test_results_never_go_into_a_folder_of_other_files(tmp_path):
    from langarith.experiments.run import run

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep")
    with pytest.raises(ExperimentError, match=r"holds other files \(todo.txt\); give a new or empty folder"):
        run(load_config(write(tmp_path)), notes)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExperimentError, match="is a file"):
        run(load_config(write(tmp_path)), tmp_path / "file")
    assert sorted(p.name for p in notes.iterdir()) == ["todo.txt"]
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    (tmp_path / "placed").mkdir()
    (tmp_path / "placed" / "modules").symlink_to(shared)  # a module cache placed to share it is the run's own
    from langarith.experiments.run import _check_out

    _check_out(tmp_path / "placed")


def test_overwrite_discards_an_earlier_runs_results_and_keeps_its_modules(tmp_path, monkeypatch):
    runs = importlib.import_module("langarith.experiments.run")

    out = tmp_path / "res"
    for name in ("results.json", "cells.json", "results.md", "run.log"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("earlier")
    (out / "analysis").mkdir()
    (out / "modules" / "task_en_1").mkdir(parents=True)
    (out / "modules" / "task_en_1" / "langarith.json").write_text("{}")
    seen: list[list[str]] = []

    class Runner:
        def __init__(self, config, folder, **kwargs):
            seen.append(sorted(p.name for p in folder.iterdir()))

        def run(self):
            return []

    monkeypatch.setattr(runs, "runner_for", Runner)
    runs.run(load_config(write(tmp_path)), out)
    runs.run(load_config(write(tmp_path)), out, overwrite=True)
    assert seen == [["analysis", "cells.json", "modules", "results.json", "results.md", "run.log"],
                    ["modules", "run.log"]]
    assert (out / "modules" / "task_en_1" / "langarith.json").is_file()


@pytest.mark.parametrize(("text", "message"), [
    ("- a\n- list\n", "holds a list, not a mapping"),
    ("just a string\n", "holds a str, not a mapping"),
    ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 12)}]\n"
                                                           for p, c in zip("abcdefghij", "bcdefghijk", strict=True)),
     "more than 100 aliases"),  # 12 levels of 12: ten billion values from a 700-byte file
])
def test_config_files_that_are_not_configs_are_clean_errors(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ExperimentError, match=message):
        load_config(path)
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ExperimentError, match="is not a file"):
        load_config(tmp_path / "folder.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x81 binary")
    with pytest.raises(ExperimentError, match="is not valid YAML"):
        load_config(tmp_path / "binary.yaml")


SCALARS = st.none() | st.booleans() | st.integers(-3, 10) | st.floats(allow_nan=True) | st.text(max_size=8)
KEYS = st.sampled_from(["name", "setting", "task", "data", "sources", "targets", "budget", "budgets", "smoke",
                        "methods", "model", "method", "pool", "text", "dev_split", "test_split", "train_split",
                        "task_steps", "lambda_step", "search", "seeds", "colour"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                      max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(KEYS, VALUES, max_size=10) | VALUES)
def test_any_yaml_is_a_config_or_a_clean_error(tmp_path, raw):
    """Fuzz: a YAML file loads as a Config or raises ExperimentError, never another exception."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with contextlib.suppress(ExperimentError):
        assert load_config(path).name


def test_modules_trained_ahead_at_once_give_the_pinned_table(tmp_path, isolated_cache, monkeypatch):
    """With two workers, zero-shot's modules are all trained before any cell — en's and the partners' adapters
    at once, then the task adapter on en's — and the table is the pinned one, to the byte."""
    from langarith.experiments import runner_for, store
    from langarith.training.pool import waves

    planned = []
    real_train_all = store.train_all
    monkeypatch.setattr(store, "train_all", lambda specs, *a, **k: planned.append(waves(specs)) or
                        real_train_all(specs, *a, **k))
    monkeypatch.setattr(store, "train", lambda *a, **k: pytest.fail("a cell trained a module itself"))
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "madx-zero-shot.yaml", "smoke")
    cfg.spend.workers = 2
    runner_for(cfg, tmp_path / "out", progress=False).run()
    [found] = planned
    assert [sorted(s.language for s in wave) for wave in found] == \
        [["eng_Latn", "hin_Deva", "rus_Cyrl", "spa_Latn"], ["eng_Latn"]]
    assert found[1][0].role == "task" and found[1][0].lang_module == found[0][0].out
    assert (tmp_path / "out" / "results.csv").read_text() == (PINNED / "madx-zero-shot-smoke.csv").read_text()


def test_how_trainings_are_handed_out_never_redoes_finished_cells():
    from langarith.experiments.cells import cells_record

    path = Path(__file__).resolve().parents[2] / "configs" / "madx-zero-shot.yaml"
    plain, handed = load_config(path, "cpu"), load_config(path, "cpu")
    handed.spend.workers, handed.spend.executor = 8, "submitit"
    handed.spend.executor_options = {"slurm_partition": "gpu"}
    assert cells_record(plain) == cells_record(handed)
    handed.spend.task_steps += 1
    assert cells_record(plain) != cells_record(handed)
