"""The README model card of a trained module: Hugging Face front matter (library, base model, language, tags)
so the Hub and its tools file it correctly, then what the module is, what it was trained on, how it went,
and how to load and compose it. Written from the manifest alone, so it never disagrees with it."""

from __future__ import annotations

from typing import Any

from langarith.codes import resolve
from langarith.errors import UnknownLanguageError

#: the Hub's library of each method's folder: AdapterHub's name, transformers for a whole model; the rest are PEFT
_LIBRARY = {"bottleneck": "adapter-transformers", "full": "transformers"}


def trained_card(manifest: dict[str, Any]) -> str:
    method = manifest["method"]["name"]
    model = manifest["model"]["name"]
    language = _language(manifest.get("language"))
    lines = ["---", f"library_name: {_LIBRARY.get(method, 'peft')}", f"base_model: {model}"]
    if language:
        lines += ["language:", f"- {language}"]
    lines += ["tags:", "- langarith", f"- {method}", f"- {manifest['role']}-module", "---", "",
              f"# {manifest['role']} module: {manifest.get('language')}", "",
              f"A {method} {manifest['role']} module for {model}, trained with langarith "
              f"{manifest['langarith_version']} ({_what(manifest)}).", "",
              "| | |", "|---|---|",
              f"| trained on | {_data(manifest)} |",
              f"| method | {method} {_options(manifest['method']['options'])} |",
              f"| steps | {manifest['steps']:,} ({manifest['tokens']:,} tokens, batch {manifest['batch_size']}, "
              f"lr {manifest['lr']}, seed {manifest['seed']}, {manifest['precision']}) |",
              f"| took | {manifest['wall_time_s']} s on {manifest['device']} |"]
    heldout = manifest.get("heldout_loss") or {}
    if heldout.get("before") is not None and heldout.get("after") is not None:
        lines.append(f"| held-out loss | {heldout['before']:.4f} before → {heldout['after']:.4f} after |")
    lines += ["", "## Use", "", "```python", *_loading(method, model, manifest["model"].get("family")), "```", "",
              *_composing(method),
              "Everything that reproduces the run is in `langarith.json`; `langarith inspect <this folder>` shows "
              "it.", ""]
    return "\n".join(lines)


def _language(code: str | None) -> str | None:
    """The ISO 639-1 code where there is one (the Hub's convention), else the 639-3 code."""
    if not code:
        return None
    try:
        resolved = resolve(code)
    except UnknownLanguageError:  # left out of the header rather than guessed
        return None
    return resolved.iso639_1 or resolved.iso639_3


def _what(manifest: dict[str, Any]) -> str:
    if manifest["role"] == "task":
        return f"task {manifest.get('task')}, labeled data"
    return f"{manifest['objective']} on unlabeled text"


def _data(manifest: dict[str, Any]) -> str:
    if manifest.get("task"):
        return f"{manifest['task']}, {manifest.get('split')} split ({manifest.get('examples'):,} examples)"
    sources = ", ".join(s.get("spec", "?") for s in manifest.get("sources") or [])
    return f"{sources} ({manifest.get('text_tokens', 0):,} tokens of text)"


def _options(options: dict[str, Any]) -> str:
    shown = ", ".join(f"{k} {', '.join(v) if isinstance(v, list) else v}" for k, v in options.items()
                      if v not in (None, [], {}))
    return f"({shown})" if shown else ""


_AUTO = {"decoder": "AutoModelForCausalLM", "encoder-decoder": "AutoModelForSeq2SeqLM",
         "encoder": "AutoModelForMaskedLM"}


def _composing(method: str) -> list[str]:
    if method == "full":
        return ["A whole fine-tuned model (paper 1's full fine-tuning baseline), not a module: evaluate it with "
                "`langarith evaluate --model <this folder>`.", ""]
    return ["Compose it with other modules (`langarith compose`), e.g. Add & Subtract for a target language:",
            "`langarith compose --recipe add-subtract --task en=TASK --lang en=LANG_EN --lang pt=LANG_PT "
            "--lambda 0.7 --out task_pt`.", ""]


def _loading(method: str, model: str, family: str | None) -> list[str]:
    if method == "full":
        auto = _AUTO.get(family or "", "AutoModelForCausalLM")
        return [f"from transformers import {auto}", "", f'model = {auto}.from_pretrained("<this folder>")']
    if method == "bottleneck":
        return ["import adapters", "from transformers import AutoModel", "",
                f'model = AutoModel.from_pretrained("{model}")', "adapters.init(model)",
                'name = model.load_adapter("<this folder>")', "model.set_active_adapters(name)"]
    auto = _AUTO.get(family or "", "AutoModelForCausalLM")
    return ["from peft import PeftModel", f"from transformers import {auto}", "",
            f'model = PeftModel.from_pretrained({auto}.from_pretrained("{model}"), "<this folder>")']
