"""The README model card of a trained module: Hugging Face front matter (library, base model as a hub id, its
relation, language, tags) so the Hub and its tools file it correctly, then what the module is, what it was
trained on, how it went, and a "Use" snippet that loads it as written. Written from the manifest alone, so it
never disagrees with it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langarith.arith.cards import LIBRARIES, base_sentence, front_matter, use_snippet
from langarith.arith.identity import BaseIdentity
from langarith.core.records import run_record

#: the kind of folder each method writes: AdapterHub's, a whole model; the rest are PEFT's
_FOLDER = {"bottleneck": "adapterhub", "full": "model"}


def trained_card(manifest: dict[str, Any], folder: str) -> str:
    """The card of the module `folder` (its own name: the snippet runs from its parent directory)."""
    method = manifest["method"]["name"]
    kind = _FOLDER.get(method, "peft")
    base = BaseIdentity.from_json(manifest["base"]) if manifest.get("base") else None
    model = base.portable if base else manifest["model"]["name"]
    relation = "finetune" if method == "full" else "adapter"
    lines = [front_matter(LIBRARIES[kind], base, relation, manifest.get("language"),
                          ["langarith", method, f"{manifest['role']}-module"]),
             f"# {manifest['role']} module: {manifest.get('language')}", "",
             f"A {method} {manifest['role']} module for {model}, trained with langarith "
             f"{manifest['langarith_version']} ({_what(manifest)}).", "",
             *base_sentence(base),
             "| | |", "|---|---|",
             *([f"| base model | {base.describe()} |"] if base else []),
             f"| trained on | {_data(manifest)} |",
             f"| method | {method} {_options(manifest['method']['options'])} |",
             f"| steps | {manifest['steps']:,} ({manifest['tokens']:,} tokens, batch {_batch(manifest)}, "
             f"lr {manifest['lr']}{_schedule(manifest)}, seed {manifest['seed']}, {manifest['precision']}) |",
             f"| took | {manifest['wall_time_s']} s on {manifest['device']} |"]
    heldout = manifest.get("heldout_loss") or {}
    if heldout.get("before") is not None and heldout.get("after") is not None:
        lines.append(f"| held-out loss | {heldout['before']:.4f} before → {heldout['after']:.4f} after |")
    lines += _selection(manifest.get("selection"))
    lines += ["", "## Use", "", *use_snippet(kind, folder, base, manifest["model"].get("family")),
              *_composing(method, folder),
              f"Everything that reproduces the run is in `langarith.json`; `langarith inspect {folder}` shows it.", ""]
    return "\n".join(lines)


def _what(manifest: dict[str, Any]) -> str:
    if manifest["role"] == "task":
        return f"task {manifest.get('task')}, labeled data"
    return f"{manifest['objective']} on unlabeled text"


def _data(manifest: dict[str, Any]) -> str:
    if manifest.get("task"):
        return f"{manifest['task']}, {manifest.get('split')} split ({manifest.get('examples'):,} examples)"
    sources = ", ".join(s.get("spec", "?") for s in manifest.get("sources") or [])
    return f"{sources} ({manifest.get('text_tokens', 0):,} tokens of text)"


def _batch(manifest: dict[str, Any]) -> str:
    accum = manifest.get("grad_accum", 1)
    size = manifest["batch_size"]
    return str(size) if accum == 1 else f"{size * accum} ({size} × {accum} accumulated)"


def _schedule(manifest: dict[str, Any]) -> str:
    """The learning rate's schedule, warm-up and clipping, where the run had them."""
    parts = [manifest["schedule"]] if manifest.get("schedule", "constant") != "constant" else []
    if manifest.get("warmup_steps"):
        parts.append(f"{manifest['warmup_steps']} warm-up steps")
    if manifest.get("clip") is not None:
        parts.append(f"clipped to norm {manifest['clip']}")
    return f" ({', '.join(parts)})" if parts else ""


def _selection(chosen: dict[str, Any] | None) -> list[str]:
    """The validation row: what was scored, how often, the best step and which step the module is."""
    if not chosen or chosen.get("best_step") is None:
        return []
    kept = "kept" if chosen["keep"] == "best" else "the last step kept"
    return [f"| validation | {chosen['metric']} every {chosen['every']} steps; best {chosen['best_value']:.4f} at "
            f"step {chosen['best_step']}, {kept} |"]


def _options(options: dict[str, Any]) -> str:
    shown = ", ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in options.items()
                      if v not in (None, [], {}))
    return f"({shown})" if shown else ""


def _composing(method: str, folder: str) -> list[str]:
    if method == "full":
        return ["A whole fine-tuned model (paper 1's full fine-tuning baseline), not a module: evaluate it with "
                f"`langarith evaluate --model {folder}`.", ""]
    return ["Compose it with other modules (`langarith compose`), e.g. Add & Subtract for a target language:",
            "`langarith compose --recipe add-subtract --task-module en=TASK --lang-module en=LANG_EN "
            "--lang-module pt=LANG_PT --lambda 0.7 --out task_pt`.", ""]


def made_by(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's run record (`langarith.core.records.run_record`: command line, commit, working folder…)
    over what the module was trained on: each text source (a hub corpus: the sha256 of its text), the task's
    dataset, and the language module a task adapter was trained over."""
    inputs: dict[str, str | None] = {}
    known: dict[str, str | None] = {}
    for source in manifest.get("sources") or []:
        inputs[source["spec"]] = source["path"]
        if not Path(source["path"]).exists():
            known[source["spec"]] = source.get("sha256")
    for key in ("data", "lang_module"):
        if manifest.get(key):
            inputs[key] = manifest[key]
    return run_record(inputs, known=known)
