"""A masked-LM head for encoders that ship without one (multilingual-e5), trained once per base model and
shared, frozen, by every language adapter of that model.

Rather than letting every language adapter train its own head — which would put each adapter in its own
coordinate system and, with XLM-R's tied output matrix, change the embeddings under the module — one head is
trained with the body frozen, cached (`<cache>/models/mlm-head-*.safetensors`) and frozen in every language
module after; the manifest records it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from langarith.core.paths import cache_dir
from langarith.core.progress import progress, say
from langarith.data import is_hub, local
from langarith.training.data import pack
from langarith.training.objectives import mlm_loss, split_mlm, unwrap

MLM_HEAD_STEPS = 200
MLM_HEAD_VERSION = 1


def shared_mlm_head(model: Any, info: Any, tokenizer: Any, seq_len: int, own_text: list[str], console: Any,
                    show: bool = True) -> dict[str, Any]:
    """A masked-LM head for an encoder that ships without one (multilingual-e5), trained once per base model
    with the body frozen, cached, and frozen in every language module after. Language adapters of one base
    then all read the same head, so their arithmetic compares like with like, and a module never carries a
    head of its own. The head's output matrix stays tied to the input embeddings (training it would change
    the base model under the module). Text: 200 Tatoeba sentences of every language in a local Tatoeba copy, or,
    without it, the module's own text (the manifest says which)."""
    import torch
    from safetensors.torch import load_file, save_file

    core = unwrap(model)
    head = split_mlm(model)[1]
    tied = {id(p) for p in core.get_input_embeddings().parameters()}
    params = {n: p for n, p in head.named_parameters() if id(p) not in tied}
    for param in model.parameters():
        param.requires_grad = False
    files = mlm_head_text_files()
    source = "tatoeba (every language)" if files else "the module's own text"
    key = hashlib.sha256(f"{info.path}|{source}|{MLM_HEAD_VERSION}".encode()).hexdigest()[:12]
    path = cache_dir("models") / f"mlm-head-{key}.safetensors"
    if not path.exists():
        texts = [line for f in files for line in f.read_text(encoding="utf-8").splitlines()[:200]] or own_text
        rows = pack(texts, tokenizer, seq_len)
        order = np.random.default_rng(0).permutation(len(rows))
        for param in params.values():
            param.requires_grad = True
        optimizer = torch.optim.AdamW(list(params.values()), lr=1e-3)
        generator = torch.Generator().manual_seed(0)
        say(f"training a masked-LM head for {info.name} once (it has none; body frozen) → {path}", name=__name__)
        with progress(show, console, "loss {task.fields[loss]:.3f}", transient=True) as bar:
            job = bar.add_task("MLM head", total=MLM_HEAD_STEPS, loss=float("nan"))
            for step in range(MLM_HEAD_STEPS):
                ids = torch.from_numpy(rows[order[[(step * 16 + i) % len(rows) for i in range(16)]]])
                loss = mlm_loss(model, ids, tokenizer, generator)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                bar.update(job, advance=1, loss=float(loss.detach()))
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({n: p.detach().cpu().contiguous() for n, p in params.items()}, str(tmp))
        os.replace(tmp, path)
    state = load_file(str(path))
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name])
            param.requires_grad = False
    return {"mlm_head": {"file": str(path), "text": source, "steps": MLM_HEAD_STEPS, "frozen": True}}


def mlm_head_text_files() -> list[Path]:
    """The shared MLM head's text: the Tatoeba file of every language in a local copy of Tatoeba (none
    without one: the hub's copy is not read for it, so the head does not depend on the network)."""
    root = local("tatoeba")
    if root is None or is_hub(root):
        return []
    return sorted(p for p in root.glob("tatoeba.*-eng.*") if not p.name.endswith(".eng"))
