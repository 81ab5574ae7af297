"""What every README model card langarith writes shares: Hugging Face front matter (through `huggingface_hub`'s
`ModelCardData`), the sentence that says which weights one of langarith's own base models is, and a "Use" snippet
that runs as written from the folder's parent directory.

A module's base is named by its hub id where there is one. langarith's own bases (the default decoder and
encoder, whose exact weights are dequantised 4-bit conversions, and the tiny test models) are on no hub with
those weights: their snippets load them with `langarith.models.base_model`, as training did.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from langarith import __version__
from langarith.arith.identity import BaseIdentity, build_of
from langarith.core.errors import UnknownLanguageError
from langarith.languages.codes import resolve

#: the Hub's library of each kind of folder
LIBRARIES = {"peft": "peft", "adapterhub": "adapter-transformers", "model": "transformers"}
_AUTO = {"decoder": "AutoModelForCausalLM", "encoder-decoder": "AutoModelForSeq2SeqLM",
         "encoder": "AutoModelForMaskedLM"}


def front_matter(library: str, base: BaseIdentity | None, relation: str, language: str | None,
                 tags: list[str]) -> str:
    """The YAML header: `base_model` is a hub id (left out where the base has none, and its relation with it)."""
    from huggingface_hub import ModelCardData

    code = language_code(language)
    hub_id = base.hub_id if base is not None else None
    data = ModelCardData(library_name=library, base_model=hub_id, language=[code] if code else None,
                         tags=list(dict.fromkeys(tags)), **({"base_model_relation": relation} if hub_id else {}))
    return f"---\n{data.to_yaml()}\n---\n"


def language_code(code: str | None) -> str | None:
    """The ISO 639-1 code where there is one (the Hub's convention), else the 639-3 code; None for no language
    or one that does not resolve (left out of the header rather than guessed)."""
    if not code:
        return None
    try:
        resolved = resolve(code)
    except UnknownLanguageError:
        return None
    return resolved.iso639_1 or resolved.iso639_3


def base_sentence(base: BaseIdentity | None, verb: str = "Trained") -> list[str]:
    """One paragraph saying which weights one of langarith's own bases is (none for other bases)."""
    build = build_of(base)
    if base is None or build is None:
        return []
    call = f'`base_model("{build.option}")`'
    if build.hub_id:
        return [f"{verb} on {build.what}: {build.hub_id} as the {base.weights} — {build.differs}; {call} loads "
                f"the weights it was trained on.", ""]
    return [f"{verb} on {build.what} `{build.name}`: a {base.weights}, on no hub; {call} builds the same weights.",
            ""]


def use_snippet(library: str, folder: str, base: BaseIdentity | None, family: str | None) -> list[str]:
    """The "Use" section's lines: where to run it, then a Python block that loads `folder` (a PEFT or AdapterHub
    module on its base, or a whole model) by its name."""
    auto = _AUTO.get(family or (base.family if base else None) or "", "AutoModelForCausalLM")
    if library == "model":
        code = [f"from transformers import {auto}, AutoTokenizer", "",
                f'model = {auto}.from_pretrained("{folder}")', f'tokenizer = AutoTokenizer.from_pretrained("{folder}")']
    else:
        imports, note, loaded = _base_model(base, auto)
        if library == "adapterhub":
            code = ["import adapters", *imports, "", *note, f"model = {loaded}", "adapters.init(model)",
                    f'name = model.load_adapter("{folder}")', "model.set_active_adapters(name)"]
        else:
            code = ["from peft import PeftModel", *imports, "", *note,
                    f'model = PeftModel.from_pretrained({loaded}, "{folder}")']
    return [f"Run this from the folder that holds `{folder}`:", "", "```python", *code, "```", ""]


def _base_model(base: BaseIdentity | None, auto: str) -> tuple[list[str], list[str], str]:
    """Imports, a note, and the expression that loads the base: langarith's `base_model` for its own models,
    transformers for a hub id, a folder to fill in otherwise."""
    build = build_of(base)
    if build is not None:
        return ["from langarith.models import base_model"], [], f'base_model("{build.option}")'
    if base is not None and base.hub_id:
        return [f"from transformers import {auto}"], [], f'{auto}.from_pretrained("{base.hub_id}")'
    known = f"the base model {base.describe()}" if base is not None else "the base model it was trained on"
    return ([f"from transformers import {auto}"], [f"# BASE_MODEL: the folder of {known}"],
            f'{auto}.from_pretrained("BASE_MODEL")')


def composed_card(module: Any, provenance: dict[str, Any], name: str, folder: str) -> str:
    """The card of a composed module (`module` a `langarith.arith.module.Module`): what it is made of, and its use."""
    library = LIBRARIES.get(module.format, "peft")
    made = provenance.get("expression") or (provenance.get("recipe") or {}).get("name") or "—"
    base = module.base
    lines = [
        front_matter(library, base, "adapter", module.language,
                     ["langarith", module.kind, *([f"{module.role}-module"] if module.role else []), "composed"]),
        f"# {name}",
        "",
        f"A {module.kind} module ({module.format} format) composed with langarith {__version__}"
        f" on {datetime.now(timezone.utc).date().isoformat()}.",
        "",
        *base_sentence(base, "Composed of modules trained"),
        f"- base model: {base.describe() if base else module.base_model or 'unknown'}",
        f"- language: {module.language or 'unspecified'}; role: {module.role or 'unspecified'}",
        f"- made by: `{made}`",
        f"- semantics: {provenance.get('semantics', '—')}"
        + (f", truncated to rank {provenance['rank']}" if provenance.get("rank") else ""),
    ]
    weights = provenance.get("weights") or {}
    if weights:
        lines += ["", "| input | weight | sha256 |", "|---|---:|---|"]
        shas = {i.get("name"): i.get("sha256", "") for i in provenance.get("inputs", [])}
        lines += [f"| {k} | {v:.6g} | `{(shas.get(k) or '')[:16]}` |" for k, v in weights.items()]
    lines += ["", "## Use", "", *use_snippet(library, folder, base, None),
              f"Full provenance: `langarith.json`. Inspect with `langarith inspect {folder}`.", ""]
    return "\n".join(lines)
