from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from langarith.cli import app


def test_train_language_and_task_contract(tiny_models, tmp_path, isolated_cache):
    runner = CliRunner()
    r = runner.invoke(app, ["train", "language", "--lang", "pt", "--text", "tatoeba:pt", "--model",
                            str(tiny_models["decoder"]), "--method", "lokr", "--tokens", "2048", "--batch-size", "4",
                            "--seq-len", "32", "--seed", "3", "--out", str(tmp_path / "lang_pt")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "lang_pt" / "langarith.json").read_text())
    assert m["steps"] == 16 and m["tokens"] == 2048 and m["method"]["name"] == "lokr" and m["seed"] == 3
    data = tmp_path / "sib"
    (data / "eng_Latn").mkdir(parents=True)
    (data / "eng_Latn" / "labels.txt").write_text("sports\nhealth\n")
    rows = "".join(f"{i}\t{'sports' if i % 2 else 'health'}\tSentence number {i} about things.\n" for i in range(12))
    (data / "eng_Latn" / "train.tsv").write_text("index_id\tcategory\ttext\n" + rows)
    r = runner.invoke(app, ["train", "task", "--task", "sib200", "--lang", "en", "--data", str(data), "--model",
                            str(tiny_models["decoder"]), "--steps", "3", "--batch-size", "4", "--out",
                            str(tmp_path / "task_en")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "task_en" / "langarith.json").read_text())["labels"] == ["sports", "health"]
    again = ["train", "task", "--task", "sib200", "--lang", "en", "--data", str(data), "--model",
             str(tiny_models["decoder"]), "--steps", "2", "--batch-size", "4", "--out", str(tmp_path / "task_en")]
    r = runner.invoke(app, again)  # an existing module is refused before anything loads
    assert r.exit_code != 0 and "--overwrite" in str(r.exception), r.output
    assert json.loads((tmp_path / "task_en" / "langarith.json").read_text())["steps"] == 3
    r = runner.invoke(app, [*again, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "task_en" / "langarith.json").read_text())["steps"] == 2


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_same_command_under_two_processes_agrees(tiny_models, tmp_path, launcher):
    """Data-parallel on CPU (gloo): the unchanged command under torchrun or `accelerate launch` (whose
    multi-process launcher is torchrun's; without a GPU each process trains on the CPU); under torchrun with
    accumulated micro-batches (gradients synchronised once per step), clipping and a schedule."""
    launch = {"torchrun": ["-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517"],
              "accelerate": ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                             "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                             "--main_process_port", "29518"]}[launcher]
    out = tmp_path / "ddp"
    knobs = ["--grad-accum", "2", "--clip", "1.0", "--warmup", "1", "--schedule", "linear"] \
        if launcher == "torchrun" else []
    r = subprocess.run([sys.executable, *launch,
                        "-m", "langarith", "train", "language", "--lang", "pt", "--text", "tatoeba:pt", "--model",
                        str(tiny_models["decoder"]), "--steps", "3", "--batch-size", "4", "--seq-len", "32",
                        "--out", str(out), *knobs], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "langarith.json").read_text())
    assert m["processes"] == 2
    assert len(m["final_fingerprints"]) == 2 and len(set(m["final_fingerprints"])) == 1
    assert m["grad_accum"] == (2 if knobs else 1) and m["tokens"] == 3 * 4 * 32 * m["grad_accum"]
    assert r.stdout.count("wrote ") == 1


def _train_args(tiny_models, out, *extra: str) -> list[str]:
    return ["train", "language", "--lang", "pt", "--text", "tatoeba:pt", "--model", str(tiny_models["decoder"]),
            "--steps", "4", "--batch-size", "2", "--seq-len", "16", "--out", str(out), *extra]


def test_train_takes_the_optimizer_knobs_and_records_them(tiny_models, tmp_path, isolated_cache):
    r = CliRunner().invoke(app, _train_args(tiny_models, tmp_path / "k", "--warmup", "0.5", "--schedule", "cosine",
                                            "--clip", "1.0", "--grad-accum", "2"))
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "k" / "langarith.json").read_text())
    assert (m["warmup"], m["warmup_steps"], m["schedule"], m["clip"], m["grad_accum"]) == (0.5, 2, "cosine", 1.0, 2)
    assert m["tokens"] == 4 * 2 * 2 * 16 and len(m["lr_curve"]) == 4
    r = CliRunner().invoke(app, _train_args(tiny_models, tmp_path / "x", "--schedule", "step"))
    assert r.exit_code == 2 and "constant" in r.output and not (tmp_path / "x").exists()


def test_messages_go_to_stderr_as_the_verbosity_asks_and_json_stays_alone_on_stdout(tiny_models, tmp_path,
                                                                                      isolated_cache):
    """`--resume` without a checkpoint is an INFO message; the run's outline a DEBUG one."""
    runner = CliRunner()
    r = runner.invoke(app, _train_args(tiny_models, tmp_path / "a", "--resume", "--json"))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kind"] and "no checkpoint" in r.stderr and "steps of 2 × 1 rows" not in r.stderr
    r = runner.invoke(app, ["--verbose", *_train_args(tiny_models, tmp_path / "b", "--resume", "--quiet")])
    assert r.exit_code == 0 and "no checkpoint" not in r.stderr  # --quiet: warnings only
    r = runner.invoke(app, ["--verbose", *_train_args(tiny_models, tmp_path / "c", "--resume")])
    assert r.exit_code == 0 and "no checkpoint" in r.stderr and "4 steps of 2 × 1 rows, lr 0.0002 constant" in r.stderr


def test_train_task_selects_its_best_dev_step_over_epochs(tiny_models, tmp_path, isolated_cache):
    from conftest import write_sib

    data = write_sib(tmp_path / "sib")
    args = ["train", "task", "--task", "sib200", "--lang", "en", "--data", str(data), "--model",
            str(tiny_models["decoder"]), "--batch-size", "4", "--epochs", "1", "--eval-every", "2", "--keep", "best",
            "--dev-limit", "6", "--out", str(tmp_path / "t")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "t" / "langarith.json").read_text())
    assert m["steps"] == 3 and m["epochs"] == 1.0  # ⌈1 × 12 / 4⌉
    assert m["selection"]["keep"] == "best" and [s for s, _ in m["selection"]["curve"]] == [2, 3]
    r = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "x"), "--steps", "3"])
    assert r.exit_code != 0 and "--epochs or --steps, not both" in r.output + str(r.exception)
    r = CliRunner().invoke(app, _train_args(tiny_models, tmp_path / "l", "--eval-every", "2", "--keep", "first"))
    assert r.exit_code == 2 and "best" in r.output and not (tmp_path / "l").exists()
    r = CliRunner().invoke(app, _train_args(tiny_models, tmp_path / "l", "--epochs", "1"))
    assert r.exit_code == 2 and "--epochs" in r.output  # a task module's flag
