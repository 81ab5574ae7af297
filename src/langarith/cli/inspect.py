"""`langarith inspect`: a module's type, size and norm, how it was made (recipe or expression and its inputs)
and, for a module langarith trained, its training record, as readable lines (or `--json`). Model-free."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from langarith.arith.formats import load
from langarith.cli.app import JSON, app

_FACTS = ("path", "format", "kind", "base", "language", "role", "rank", "alpha", "num_tensors", "num_params",
          "norm", "dtypes", "targets", "extras", "sha256")


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="A module folder or safetensors file."),
    as_json: bool = JSON,
) -> None:
    """Show a module's type, base model, targets, rank, size, norm, provenance and training record."""
    summary = load(path).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    for key in _FACTS:
        table.add_row(f"[bold]{key}[/]", _shown(summary[key]))
    for key, value in [*_provenance_rows(summary["provenance"]), *_training_rows(summary["training"])]:
        table.add_row(f"[bold]{key}[/]", value)
    Console(highlight=False).print(table)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _options(options: dict[str, Any]) -> str:
    """`k v` pairs of the options that are set, in order: "λ 0.7, top_k 0.2"."""
    return ", ".join(f"{'λ' if k in ('lambda', 'lam') else k} {_shown(v)}" for k, v in options.items()
                     if v not in (None, [], {}))


def _provenance_rows(provenance: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not provenance:
        return []
    recipe = provenance.get("recipe") or {}
    made = provenance.get("expression") or f"recipe {recipe.get('name')}"
    rest = _options({k: v for k, v in recipe.items() if k != "name"})
    rows = [("made by", f"{made} ({rest})" if rest else made)]
    rank = provenance.get("rank")
    rows.append(("semantics", f"{provenance.get('semantics')}" + (f", truncated to rank {rank}" if rank else "")))
    weights = provenance.get("weights") or {}
    for item in provenance.get("inputs", []):
        weight = weights.get(item.get("name"))
        shown = f" ({weight:+.4g})" if isinstance(weight, int | float) else ""
        rows.append(("input", f"{item.get('name')}{shown}: {item.get('path')} sha256 {str(item.get('sha256'))[:16]}…"))
    if provenance.get("created"):
        rows.append(("created", f"{provenance['created']} with langarith {provenance.get('langarith_version')}"))
    return rows + _run_rows(provenance)


def _run_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    """How the module was made: the command line (or the Python call), langarith's commit, the working folder."""
    call = record.get("call") or {}
    how = record.get("command") or (f"{call['function']}(…) from Python" if call.get("function") else None)
    found = [("command", how), ("commit", record.get("commit")), ("working folder", record.get("cwd"))]
    return [(key, str(value)) for key, value in found if value]


def _training_rows(training: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not training:
        return []
    t = training
    if t.get("task"):
        data = (f"task {t['task']}, {t.get('split', 'train')} split of {t.get('data')} "
                f"({_shown(t.get('examples'))} examples)")
    else:
        data = f"{t.get('objective')} on {_shown(t.get('sources'))} ({_shown(t.get('text_tokens'))} tokens of text)"
    method = dict(t.get("method") or {})
    name = method.pop("name", None)
    rows = [("trained on", data), ("trained with", f"{name} ({_options(method)}) on {t.get('model')}"),
            ("steps", f"{_shown(t.get('steps'))} steps, {_shown(t.get('tokens'))} tokens, "
                      f"{_options({k: t.get(k) for k in ('batch_size', 'lr', 'seed', 'precision')})}"),
            ("took", f"{_shown(t.get('wall_time_s'))} s on {t.get('device')}"
                     + (f", resumed at steps {_shown(t['resumed_at_steps'])}" if t.get("resumed_at_steps") else ""))]
    if t.get("heldout_loss"):
        before, after = (_loss(t["heldout_loss"][k]) for k in ("before", "after"))
        rows.append(("held-out loss", f"{before} before → {after} after"))
    if t.get("loss_first_last"):
        first, last = (_loss(x) for x in t["loss_first_last"])
        rows.append(("training loss", f"{first} at the first step → {last} at the last"))
    return rows + _run_rows(t)


def _loss(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, int | float) else "—"
