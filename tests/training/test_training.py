from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED, needs

from langarith.training import TrainError, TrainSpec, train
from langarith.training.data import Batches

TEXT = ["tatoeba:pt"]


def spec(tiny_models, tmp_path, family="decoder", method="lora", **kw) -> TrainSpec:
    base = dict(role="language", language="pt", text=TEXT, model=str(tiny_models[family]), method=method,
                out=tmp_path / f"{family}-{method}", steps=10, lr=2e-2, batch_size=4, seq_len=32, progress=False)
    base.update(kw)
    return TrainSpec(**base)


def manifest(folder: Path) -> dict:
    return json.loads((folder / "langarith.json").read_text())


@pytest.mark.parametrize("family", ["decoder", "encoder-decoder", "encoder"])
@pytest.mark.parametrize("method", ["lora", "lokr", "bottleneck"])
def test_language_module_loss_falls_and_reloads_identically(tiny_models, tmp_path, family, method):
    # A tiny random BERT barely responds to attention adapters: smaller steps, more of them.
    settings = {"lr": 5e-3, "steps": 25} if family == "encoder" else {}
    if method == "lokr" and family == "decoder":  # one Kronecker factor starts at zero: the first steps barely move
        settings = {"steps": 25}
    if method == "lokr" and family == "encoder":  # and on the tiny BERT it needs a larger scale to move at all
        settings = {**settings, "method_options": {"rank": 8, "alpha": 32}}
    out, model = (made := train(spec(tiny_models, tmp_path, family, method, **settings))).path, made.model
    m = manifest(out)
    assert m["objective"] == ("mlm" if family == "encoder" else "prefix-lm")
    assert m["heldout_loss"]["after"] < m["heldout_loss"]["before"], m["heldout_loss"]
    ids = torch.randint(5, 300, (2, 12), generator=torch.Generator().manual_seed(1))
    reloaded = _reload(tiny_models[family], out, family, method)
    model.eval()
    with torch.no_grad():
        kwargs = {"decoder_input_ids": ids[:, :4]} if family == "encoder-decoder" else {}
        torch.testing.assert_close(reloaded(input_ids=ids, **kwargs).logits, model(input_ids=ids, **kwargs).logits,
                                   rtol=1e-5, atol=1e-5)


def _reload(base_dir: Path, out: Path, family: str, method: str):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

    cls = {"decoder": AutoModelForCausalLM, "encoder-decoder": AutoModelForSeq2SeqLM,
           "encoder": AutoModelForMaskedLM}[family]
    base = cls.from_pretrained(base_dir).eval()
    if method == "bottleneck":
        import adapters

        adapters.init(base)
        name = base.load_adapter(str(out))  # AdapterHub defaults: the .bin
        base.set_active_adapters(name)
        return base
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(out)).eval()


@needs(SHARED / "sib200")
def test_task_module_label_only_loss_and_manifest(tiny_models, tmp_path):
    out = train(TrainSpec(role="task", language="en", task="sib200", model=str(tiny_models["decoder"]),
                          out=tmp_path / "task", steps=12, lr=2e-2, batch_size=4, progress=False)).path
    m = manifest(out)
    curve = m["loss_curve"]
    assert sum(curve[-3:]) / 3 < sum(curve[:3]) / 3
    assert m["role"] == "task" and m["task"] == "sib200" and m["language"] == "en"
    assert m["classification"].startswith("label scoring") and len(m["labels"]) == 7
    assert "Topic:" in m["prompt_template"]["topic"]


def test_manifest_records_what_reproduces_the_run(tiny_models, tmp_path):
    out = train(spec(tiny_models, tmp_path, steps=3, seed=5)).path
    m = manifest(out)
    assert m["language"] == "pt" and m["role"] == "language" and m["seed"] == 5
    assert m["method"] == {"name": "lora", "options": {"rank": 4, "alpha": 8, "targets":
                                                       ["q_proj", "k_proj", "v_proj", "o_proj"], "dropout": 0.0}}
    assert m["steps"] == 3 and m["tokens"] == 3 * 4 * 32 and len(m["loss_curve"]) == 3
    assert m["sources"][0]["spec"] == "tatoeba:pt" and len(m["sources"][0]["sha256"]) == 64
    assert {"torch", "transformers", "peft", "langarith"} <= set(m["versions"])
    assert m["wall_time_s"] > 0 and len(m["init"]["fingerprint"]) == 64


def test_modules_share_their_initialisation_across_seeds(tiny_models, tmp_path):
    a = manifest(train(spec(tiny_models, tmp_path, steps=1, seed=1, out=tmp_path / "a")).path)
    b = manifest(train(spec(tiny_models, tmp_path, steps=1, seed=2, out=tmp_path / "b")).path)
    c = manifest(train(spec(tiny_models, tmp_path, steps=1, seed=1, out=tmp_path / "c",
                            method_options={"rank": 2})).path)
    assert a["init"] == b["init"] and a["init"]["fingerprint"] != c["init"]["fingerprint"]
    assert a["final_fingerprints"] != b["final_fingerprints"]  # the seed still drives data order


def test_token_budget_and_batches_are_pure():
    b = Batches(10, 4, seed=3)
    first = [b.rows(s).tolist() for s in range(6)]
    assert first == [Batches(10, 4, seed=3).rows(s).tolist() for s in range(6)]
    epoch = first[0] + first[1] + first[2][:2]
    assert sorted(epoch) == list(range(10))  # one epoch visits every row once


@pytest.mark.parametrize("selecting", [{}, {"eval_every": 2, "keep": "best"}], ids=["plain", "keep-best"])
def test_resume_after_kill_matches_an_uninterrupted_run(tiny_models, tmp_path, selecting):
    """Killed after the checkpoint of step 6; with validation every 2 steps, step 6 is not scored yet when it
    dies (its score, and the best step's tensors so far, come back from the checkpoint)."""
    full = train(spec(tiny_models, tmp_path, steps=8, checkpoint_every=3, out=tmp_path / "full", **selecting)).path
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import langarith.training.loop as T
        original = T.save_checkpoint
        def save_then_die(*args, **kwargs):
            original(*args, **kwargs)
            if args[4]["step"] >= 6:
                os.kill(os.getpid(), signal.SIGKILL)
        T.save_checkpoint = save_then_die
        T.train(T.TrainSpec(role="language", language="pt", text={TEXT!r}, model={str(tiny_models["decoder"])!r},
                            method="lora", out=Path({str(out)!r}), steps=8, lr=2e-2, batch_size=4, seq_len=32,
                            checkpoint_every=3, progress=False, **{selecting!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not out.exists() and (tmp_path / "killed.ckpt").exists()
    with pytest.raises(TrainError, match="--resume"):
        train(spec(tiny_models, tmp_path, steps=8, checkpoint_every=3, out=out, **selecting))
    train(spec(tiny_models, tmp_path, steps=8, checkpoint_every=3, out=out, resume=True, **selecting))
    from safetensors.torch import load_file

    a, b = load_file(full / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert manifest(out)["loss_curve"] == manifest(full)["loss_curve"]
    assert manifest(out).get("selection") == manifest(full).get("selection")
    if selecting:
        assert [s for s, _ in manifest(out)["selection"]["curve"]] == [2, 4, 6, 8]
    assert not (tmp_path / "killed.ckpt").exists()


def test_errors_say_what_to_do(tiny_models, tmp_path):
    from langarith.languages.corpora import CorpusError

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(CorpusError, match="holds no text"):
        train(spec(tiny_models, tmp_path, text=[str(empty)]))
    binary = tmp_path / "bad.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CorpusError, match="not UTF-8"):
        train(spec(tiny_models, tmp_path, text=[str(binary)]))
    with pytest.raises(CorpusError, match="neither a file nor a known corpus"):
        train(spec(tiny_models, tmp_path, text=["nope.txt"]))
    from langarith.core.errors import UnknownLanguageError

    with pytest.raises(UnknownLanguageError):
        train(spec(tiny_models, tmp_path, language="xx-not-a-language", text=["tatoeba:xx-not-a-language"]))
    with pytest.raises(TrainError, match="--steps or --tokens, not both"):
        train(spec(tiny_models, tmp_path, steps=2, tokens=1000))
    from langarith.models import ModelError

    (tmp_path / "empty").mkdir()  # transformers would guess MPT from the name
    with pytest.raises(ModelError, match=r"empty is not a Hugging Face model folder .*no config.json"):
        train(spec(tiny_models, tmp_path, model=str(tmp_path / "empty")))
    header_only = tmp_path / "sib" / "por_Latn"
    header_only.mkdir(parents=True)
    (header_only / "labels.txt").write_text("sports\nhealth\n")
    (header_only / "train.tsv").write_text("index_id\tcategory\ttext\n")
    with pytest.raises(TrainError, match="bottleneck task module on a decoder could not be evaluated"):
        train(TrainSpec(role="task", language="pt", task="sib200", data=tmp_path / "sib", method="bottleneck",
                        model=str(tiny_models["decoder"]), out=tmp_path / "t", steps=1, progress=False))
    with pytest.raises(TrainError, match="no sib200 examples for pt in the train split"):
        train(TrainSpec(role="task", language="pt", task="sib200", data=tmp_path / "sib",
                        model=str(tiny_models["decoder"]), out=tmp_path / "t", steps=1, progress=False))


def test_label_set_mismatch_is_an_error(tmp_path):
    from langarith.tasks import TaskError, get_task

    folder = tmp_path / "eng_Latn"
    folder.mkdir()
    (folder / "labels.txt").write_text("sports\nhealth\n")
    (folder / "train.tsv").write_text("index_id\tcategory\ttext\n1\tcooking\tSome text here.\n")
    with pytest.raises(TaskError, match=r"labels outside .*cooking"):
        get_task("sib200").load(tmp_path, "en", "train")


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("langarith")]


def test_text_in_another_language_warns_through_the_log(tiny_models, tmp_path, caplog):
    train(spec(tiny_models, tmp_path, language="sw", steps=1))
    assert any("looks like sw" in m for m in warnings_in(caplog))
    assert {r.name for r in caplog.records if "looks like sw" in r.getMessage()} == {"langarith.training.data"}


def test_no_warning_when_the_declared_language_is_the_one_most_seen(monkeypatch, caplog):
    """WikiANN's Spanish entity fragments: a third is identified as Spanish and the rest spread over many."""
    from langarith.training import data

    monkeypatch.setattr(data, "share_in_language", lambda texts, language: (0.33, "es"))
    data.check_language(["x"], "es")
    monkeypatch.setattr(data, "share_in_language", lambda texts, language: (0.33, "?"))
    data.check_language(["x"], "es")
    assert len(warnings_in(caplog)) == 1


def test_a_token_budget_cut_to_whole_sequences_is_not_reported_short(tiny_models, tmp_path, caplog):
    """1,000 tokens in sequences of 32 are 31 sequences, 992 tokens: what was asked for, not a shortfall; a
    budget past the text's end is."""
    made = train(spec(tiny_models, tmp_path, steps=1, max_text_tokens=1000))
    assert manifest(made.path)["text_tokens"] == 31 * 32 and not any("fewer than" in m for m in warnings_in(caplog))
    train(spec(tiny_models, tmp_path / "all", steps=1, max_text_tokens=10**9))
    assert any("fewer than the 1,000,000,000 asked for" in m for m in warnings_in(caplog))


@needs(SHARED / "sib200")
def test_madx_task_adapter_trains_on_a_frozen_language_adapter(tiny_models, tmp_path):
    import adapters
    from adapters.composition import Stack
    from transformers import AutoModelForMaskedLM

    from langarith.methods.bottleneck import LANG, NAME

    lang = train(spec(tiny_models, tmp_path, family="encoder", method="bottleneck", steps=3, out=tmp_path / "lang_en",
                      method_options={"config": "seq_bn_inv"})).path
    out, model = (made := train(TrainSpec(role="task", language="en", task="sib200", method="bottleneck",
                                 lang_module=lang, model=str(tiny_models["encoder"]), out=tmp_path / "task_en",
                                 steps=4, lr=1e-2, batch_size=4, progress=False))).path, made.model
    assert manifest(out)["lang_module"] == str(lang)
    trained_lang = {k: v for k, v in model.state_dict().items() if f".{LANG}." in k}
    base = AutoModelForMaskedLM.from_pretrained(tiny_models["encoder"]).eval()
    adapters.init(base)
    base.load_adapter(str(lang), load_as="lang")
    original = {k.replace(".lang.", f".{LANG}."): v for k, v in base.state_dict().items() if ".lang." in k}
    assert original and trained_lang.keys() == original.keys()
    assert all(torch.equal(trained_lang[k], original[k]) for k in original)  # the language adapter stayed frozen
    assert str(model.active_adapters) == str(Stack(LANG, NAME))


@pytest.mark.slow
def test_smoke_two_steps_on_the_real_default_model(tmp_path):
    out = train(TrainSpec(role="language", language="pt", text=TEXT, out=tmp_path / "lang_pt", steps=2,
                          batch_size=2, seq_len=32, progress=False)).path
    m = manifest(out)
    assert m["model"]["name"] == "gemma-3-270m" and m["model"]["family"] == "decoder"
    assert m["method"]["options"]["targets"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert len(m["loss_curve"]) == 2 and all(0 < x < 20 for x in m["loss_curve"])
    from langarith import load

    module = load(out)
    assert module.rank == 4 and len(module.lora) == 18 * 4 and module.init_fingerprint == m["init"]["fingerprint"]


def test_bf16_mixed_precision_trains_and_keeps_fp32_weights(tiny_models, tmp_path):
    out = train(spec(tiny_models, tmp_path, precision="bf16")).path
    m = manifest(out)
    assert m["precision"] == "bf16"
    assert m["heldout_loss"]["after"] < m["heldout_loss"]["before"], m["heldout_loss"]
    from langarith.arith.formats import load

    assert load(out).summary()["dtypes"] == ["float32"]
    with pytest.raises(TrainError, match="fp32 or bf16"):
        train(spec(tiny_models, tmp_path, steps=1, precision="fp16", out=tmp_path / "x"))


def test_bf16_copies_of_frozen_weights_give_bitwise_the_autocast_step():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from langarith.training.objectives import frozen_linears_in, prefix_lm_loss

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True))
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    ids = torch.randint(97, (3, 16), generator=torch.Generator().manual_seed(1))

    def step() -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = prefix_lm_loss(model, ids, 6)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    loss, grads = step()
    with frozen_linears_in(model, torch.bfloat16):
        assert base.lm_head.weight.dtype == torch.bfloat16 and base.model.embed_tokens.weight.dtype == torch.float32
        loss16, grads16 = step()
    assert torch.equal(loss, loss16) and all(torch.equal(a, b) for a, b in zip(grads, grads16, strict=True))
    assert base.lm_head.weight is base.model.embed_tokens.weight  # tied again, fp32, after the loop
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_deadline_stops_at_a_checkpoint_and_the_rerun_matches_an_uninterrupted_run(tiny_models, tmp_path,
                                                                                      monkeypatch):
    from langarith.core import timing

    full = train(spec(tiny_models, tmp_path, steps=6, checkpoint_every=0, out=tmp_path / "full")).path
    out = tmp_path / "cut"
    asked = []
    real_left = timing.left

    def left_until_step_4() -> float:
        asked.append(None)  # asked once as training starts, then before every step
        return -1.0 if len(asked) > 5 else 60.0

    monkeypatch.setattr(timing, "left", left_until_step_4)
    with pytest.raises(timing.DeadlineReached, match="stopped at step 4 of 6"):
        train(spec(tiny_models, tmp_path, steps=6, checkpoint_every=0, out=out))
    assert not out.exists() and (tmp_path / "cut.ckpt" / "checkpoint.pt").exists()
    monkeypatch.setattr(timing, "left", real_left)
    train(spec(tiny_models, tmp_path, steps=6, checkpoint_every=0, out=out, resume=True))
    from safetensors.torch import load_file

    a, b = load_file(full / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    resumed, straight = manifest(out), manifest(full)
    assert resumed["loss_curve"] == straight["loss_curve"] and resumed["resumed_at_steps"] == [4]
    assert resumed["heldout_loss"] == straight["heldout_loss"]  # "before" is the first start's


def test_bf16_saved_modules_load_and_evaluate_as_bf16(tiny_models, tmp_path):
    from langarith.arith.formats import load

    out = train(spec(tiny_models, tmp_path, steps=2, save_dtype="bf16")).path
    module = load(out)
    assert manifest(out)["saved_dtype"] == "bf16" and set(module.stored_as.values()) == {"BF16"}
    assert manifest(out)["precision"] == "fp32" and manifest(out)["device"]  # auto is fp32 on the CPU
    fp32 = load(train(spec(tiny_models, tmp_path, steps=2, out=tmp_path / "fp32")).path)
    for name, tensor in fp32.tensors.items():  # the same weights, rounded to bf16
        torch.testing.assert_close(torch.from_numpy(module.tensors[name]),
                                   torch.from_numpy(tensor).bfloat16().float(), rtol=0, atol=0)


def test_a_loss_that_becomes_nan_fails_and_writes_nothing(tiny_models, tmp_path):
    with pytest.raises(TrainError, match=r"became nan at step \d+ \(lr 1e\+30\); no module was written"):
        train(spec(tiny_models, tmp_path, steps=6, lr=1e30, out=tmp_path / "blown"))
    assert not (tmp_path / "blown").exists()


def test_resuming_another_run_is_refused_with_what_differs(tiny_models, tmp_path, monkeypatch):
    from langarith.core import timing

    asked = []
    monkeypatch.setattr(timing, "left", lambda: asked.append(None) or (-1.0 if len(asked) > 3 else 60.0))
    with pytest.raises(timing.DeadlineReached):
        train(spec(tiny_models, tmp_path, steps=6, checkpoint_every=0, out=tmp_path / "r"))
    monkeypatch.setattr(timing, "left", lambda: None)
    with pytest.raises(TrainError, match=r"made by another run \(lr 0.02 → 0.001; seed 0 → 3\)"):
        train(spec(tiny_models, tmp_path, steps=6, checkpoint_every=0, out=tmp_path / "r", resume=True, lr=1e-3,
                   seed=3))
    assert train(spec(tiny_models, tmp_path, steps=8, checkpoint_every=0, out=tmp_path / "r",
                      resume=True)).manifest["resumed_at_steps"] == [2]  # a longer run of the same definition



@pytest.mark.parametrize("damage", ["truncate", "foreign", "shapes"])
def test_a_corrupt_or_foreign_checkpoint_is_a_clean_error_on_resume(tiny_models, tmp_path, damage):
    from langarith.training.checkpoints import CHECKPOINT, checkpoint_dir

    out = tmp_path / "r"
    ckpt = checkpoint_dir(out) / CHECKPOINT
    ckpt.parent.mkdir()
    if damage == "truncate":
        ckpt.write_bytes(b"PK\x03\x04 cut short")
    elif damage == "foreign":
        torch.save({"model": torch.zeros(2)}, ckpt)
    else:
        torch.save({"trainable": {"x": torch.zeros(2)}, "optimizer": {}, "state": {},
                    "torch_rng": torch.get_rng_state(), "init_fingerprint": "other"}, ckpt)
    with pytest.raises(TrainError, match=r"checkpoint.pt (is not a|was written by a different).*delete .*r.ckpt"):
        train(spec(tiny_models, tmp_path, steps=4, checkpoint_every=0, out=out, resume=True))
    assert not out.exists()

@pytest.mark.parametrize(("change", "message"), [
    ({"lr": float("nan")}, "--lr must be a positive number"), ({"lr": -1.0}, "--lr must be a positive number"),
    ({"batch_size": 0}, "--batch-size must be at least 1"), ({"seq_len": 0}, "--seq-len must be at least 8"),
    ({"method_options": {"rank": 0}}, "rank must be a whole number of at least 1, got 0"),
    ({"method_options": {"rank": "four"}}, "rank must be a whole number of at least 1, got 'four'"),
    ({"method_options": {"alpha": float("inf")}}, "alpha must be a positive number"),
    ({"language": "zz"}, "zz"),
])
def test_what_cannot_train_is_a_clean_error(tiny_models, tmp_path, change, message):
    from langarith.core.errors import LangarithError

    with pytest.raises(LangarithError, match=message):
        train(spec(tiny_models, tmp_path, steps=1, **change))
    assert not (tmp_path / "decoder-lora").exists()


def test_gpt2_conv1d_layers_train_with_lora_and_lokr_is_a_clean_error(tiny_models, tmp_path):
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from langarith import load
    from langarith.methods import MethodError

    tok = AutoTokenizer.from_pretrained(tiny_models["decoder"])
    gpt2 = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=len(tok), n_positions=128,
                               bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).save_pretrained(gpt2)
    tok.save_pretrained(gpt2)
    models = {**tiny_models, "decoder": gpt2}
    trained = train(spec(models, tmp_path, steps=2))
    assert load(trained.path).config["fan_in_fan_out"] is True
    with pytest.raises(MethodError, match=r"lokr cannot adapt the Conv1D layers \(c_attn\) of this gpt2 model.*lora"):
        train(spec(models, tmp_path, method="lokr", steps=2))
    with pytest.raises(MethodError, match=r"targets q_proj: Target modules \{'q_proj'\} not found"):
        train(spec(models, tmp_path, steps=2, out=tmp_path / "x", method_options={"targets": ["q_proj"]}))


def test_packing_bounds_what_one_tokenizer_call_sees_and_stops_at_the_budget(tiny_models):
    from transformers import AutoTokenizer

    from langarith.training import data

    tok = AutoTokenizer.from_pretrained(tiny_models["decoder"])
    seen: list[int] = []

    def counting(texts, **kw):
        seen.extend(len(t) for t in texts)
        return tok(texts, **kw)

    counting.eos_token_id = tok.eos_token_id
    one_line = " ".join(["palavra"] * 60_000)  # 480,000 characters without a newline
    rows = data.pack([one_line], counting, 16)
    assert max(seen) <= data.PIECE_CHARS and len(seen) == 5
    assert rows.shape[1] == 16 and (rows == tok.eos_token_id).sum() <= 1  # pieces of a document get no EOS
    short = ["uma frase curta."] * 5000
    assert (data.pack(short, tok, 16, max_sequences=3) == data.pack(short, tok, 16)[:3]).all()
    seen.clear()
    data.pack(short, counting, 16, max_sequences=3)
    assert len(seen) == data.PIECES_PER_CALL  # one call was enough for three sequences


def test_trained_folders_hold_one_weights_file_and_a_model_card(tiny_models, tmp_path):
    adapter = train(spec(tiny_models, tmp_path, family="encoder", method="bottleneck", steps=1)).path
    assert (adapter / "pytorch_adapter.bin").exists() and not (adapter / "adapter.safetensors").exists()
    card = (adapter / "README.md").read_text()
    assert "library_name: adapter-transformers" in card and "- pt" in card and "load_adapter" in card
    lora = train(spec(tiny_models, tmp_path, steps=1)).path
    card = (lora / "README.md").read_text()
    assert "library_name: peft" in card and "| steps | 1 (" in card and "held-out loss" in card


def test_losses_are_read_back_every_few_steps_exactly_and_a_nan_names_its_step():
    """On an accelerator the loop reads losses back every SYNC_EVERY steps, not each step (a host sync): the
    curve is the same numbers, and a NaN still names the step it happened at."""
    from types import SimpleNamespace

    import torch

    from langarith.training.loop import _Losses

    run = SimpleNamespace(state={"step": 0, "losses": []}, accelerator=SimpleNamespace(reduce=lambda t, op: t),
                          out=Path("m"), spec=SimpleNamespace(lr=1.0))
    losses = _Losses(run, every=3)
    read = []
    for value in (1.5, 1.25, 1.0, 0.75, 0.5):
        run.state["step"] += 1
        read.append(losses.add(torch.tensor(value)))
    assert read == [None, None, 1.0, None, None] and run.state["losses"] == [1.5, 1.25, 1.0]
    assert losses.flush() == 0.5 and run.state["losses"] == [1.5, 1.25, 1.0, 0.75, 0.5]
    for value in (0.25, float("nan")):
        run.state["step"] += 1
        losses.add(torch.tensor(value))
    with pytest.raises(TrainError, match="nan at step 7"):
        losses.flush()


def test_packed_text_is_cached_by_text_tokenizer_and_shape(tmp_path, tiny_models, isolated_cache, monkeypatch):
    from transformers import AutoTokenizer

    from langarith.training import data

    monkeypatch.setenv("LANGARITH_CACHE", str(tmp_path / "cache"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["decoder"])
    texts = ["Olá mundo, tudo bem?", "Outra frase em português."] * 20
    first = data.packed(texts, tokenizer, 8)
    assert first.dtype == np.int64 and (first == data.pack(texts, tokenizer, 8)).all()
    monkeypatch.setattr(data, "pack", lambda *a, **k: pytest.fail("packed again"))
    assert (data.packed(texts, tokenizer, 8) == first).all()  # from the cache
    with pytest.raises(BaseException, match="packed again"):
        data.packed([*texts, "mais uma"], tokenizer, 8)  # another text is another entry
    assert len(list((tmp_path / "cache" / "packed").glob("*.npz"))) == 1
