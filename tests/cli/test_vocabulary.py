"""One CLI vocabulary: every command that loads a model takes --device and --quiet; a device this machine lacks
is one line before anything loads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from langarith.cli import app

ROOT = Path(__file__).resolve().parents[2]


def commands() -> dict:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen.commands()


def test_every_command_that_loads_a_model_takes_device_and_quiet():
    loading = {name: {o for p in c.params for o in p.opts} for name, c in commands().items()}
    loading = {name: flags for name, flags in loading.items() if "--model" in flags or name == "experiment"}
    assert set(loading) >= {"evaluate", "search-lambda", "experiment", "demo", "export", "train language",
                            "train task"}
    assert all({"--device"} <= flags for flags in loading.values()), loading
    assert all({"--quiet"} <= flags for name, flags in loading.items() if name != "export"), loading


def test_a_device_the_machine_lacks_is_one_line(monkeypatch):
    monkeypatch.delenv("LANGARITH_DEVICE", raising=False)
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: cuda is no device it lacks")
    r = CliRunner().invoke(app, ["evaluate", "--task", "sib200", "--lang", "pt", "--device", "cuda"])
    assert r.exit_code != 0 and "0 CUDA GPU(s)" in str(r.exception)
    r = CliRunner().invoke(app, ["evaluate", "--task", "sib200", "--lang", "pt", "--device", "tpu"])
    assert "choose cpu, cuda or cuda:N" in str(r.exception)
    import os

    assert "LANGARITH_DEVICE" not in os.environ  # a refused device leaves the default in place


def test_compose_and_train_print_their_module_as_json(make_peft, tmp_path, tiny_models, isolated_cache):
    import json

    a = make_peft("a")
    r = CliRunner().invoke(app, ["compose", "0.5*a", "--module", f"a={a}", "--out", str(tmp_path / "half"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kind"] == "lora"
    r = CliRunner().invoke(app, ["train", "language", "--lang", "pt", "--text", "tatoeba:pt", "--model",
                                 str(tiny_models["decoder"]), "--steps", "2", "--batch-size", "2", "--seq-len", "16",
                                 "--out", str(tmp_path / "lang_pt"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["role"] == "language"


def _flags(command) -> set[str]:
    return {o for p in command.params if not p.hidden for o in p.opts}


WRITES = ("--out", "--plot", "--predictions", "--into")


def test_every_command_that_writes_takes_overwrite_and_every_one_takes_json():
    flags = {name: _flags(c) for name, c in commands().items()}
    writing = {name for name, f in flags.items() if f & set(WRITES)}
    assert writing >= {"compose", "analyze", "train task", "search-lambda", "experiment", "data pull", "unpack",
                       "distances", "evaluate"}
    assert [name for name in writing if "--overwrite" not in flags[name]] == []
    assert [name for name, f in flags.items() if "--json" not in f] == []


def test_a_module_is_given_the_same_way_everywhere():
    """--task and --lang never take LANG=DIR in the visible vocabulary; recipes' modules are --task-module and
    --lang-module; their old spellings are hidden and say what replaced them."""
    for name, command in commands().items():
        for param in command.params:
            if param.hidden:
                assert (param.help or "").startswith("Deprecated: "), (name, param.opts)
            elif {"--task", "--lang"} & set(param.opts):
                assert "LANG=DIR" not in (param.help or "").split("(A value")[0], (name, param.opts)


def test_the_budget_choices_are_the_configs_and_the_demos():
    from typing import get_args

    from langarith.cli.experiment import Budget, DemoBudget
    from langarith.experiments.config import BudgetName
    from langarith.experiments.demo import DEMO_BUDGETS

    assert [b.value for b in Budget] == list(get_args(BudgetName))
    assert {b.value for b in DemoBudget} == {"auto", *DEMO_BUDGETS}


def test_splits_take_the_hubs_words():
    r = CliRunner().invoke(app, ["evaluate", "--task", "sib200", "--lang", "pt", "--split", "Validation",
                                 "--data", "/nonexistent"])
    assert "Invalid value for '--split'" not in r.output
    r = CliRunner().invoke(app, ["search-lambda", "--recipe", "add", "--task", "sib200", "--target", "pt",
                                 "--split", "test"])
    assert r.exit_code == 2 and "Invalid value for '--split'" in r.output
