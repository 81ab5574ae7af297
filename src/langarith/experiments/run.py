"""An experiment as configured: one run of the config's setting, or with the budget's `seeds` one run per seed
and the table of mean ± standard deviation over them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from langarith.experiments.cells import Cell
from langarith.experiments.config import Config
from langarith.experiments.runner import Runner
from langarith.experiments.setting import ExperimentError
from langarith.experiments.table import write_seed_summary


def runner_for(config: Config, out: Path, **kwargs: Any) -> Runner:
    """The runner of the config's table (its setting says the model family: a decoder's, or MAD-X adapters)."""
    return Runner(config, out, **kwargs)


def run(config: Config, out: Path, *, overwrite: bool = False, **kwargs: Any) -> list[Cell]:
    """The experiment as configured: one run, or with the budget's `seeds` one run per seed in `out/seed-N`
    and, in `out`, the table of mean ± standard deviation over seeds (`results.md`, `results.csv`). An earlier
    run in `out` is continued, or with `overwrite` its results are discarded first (its trained modules, kept
    under keys of what defines them, are reused)."""
    out = Path(out).expanduser()
    _check_out(out)
    if overwrite:
        _discard_results(out)
    seeds = config.spend.seeds
    if not seeds:
        return runner_for(config, out, **kwargs).run()
    runs = {}
    stopped = None
    for seed in seeds:
        runner = runner_for(config.model_copy(update={"seed": seed}), out / f"seed-{seed}", **kwargs)
        runs[seed] = runner.run()
        if runner.stopped:  # the deadline: later seeds are not started
            stopped = f"seed {seed} stopped at the deadline; seeds after it were not run"
            break
    write_seed_summary(config, out, runs, stopped)
    return [c for cells in runs.values() for c in cells]


def _discard_results(out: Path) -> None:
    """Everything an earlier run wrote in `out` but its module cache and logs."""
    for path in out.iterdir() if out.is_dir() else []:
        if path.name == "modules" or path.suffix == ".log":
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


# What an earlier run of an experiment leaves in its results folder: a run resumes there.
_RESULTS_MARKERS = ("config.json", "cells.json", "results.json")


def _check_out(out: Path) -> None:
    """Results go into a new or empty folder, or one an earlier run wrote (to resume it); never into a folder
    of other files, which they would be mixed with."""
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {out} is a file; give a folder for the results")
    if not out.is_dir() or any((out / m).exists() for m in _RESULTS_MARKERS) or any(out.glob("seed-*/config.json")):
        return
    # a run's own log may come first, and its module cache may be placed there (shared with another run)
    others = sorted(p.name for p in out.iterdir() if p.suffix != ".log" and p.name != "modules")
    if others:
        raise ExperimentError(f"--out {out} holds other files ({', '.join(others[:3])}{'…' if len(others) > 3 else ''})"
                              "; give a new or empty folder, or the results folder of an earlier run to resume it")
