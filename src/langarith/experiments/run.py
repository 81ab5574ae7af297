"""An experiment as configured: one run of the config's setting, or with the budget's `seeds` one run per seed
and the table of mean ± standard deviation over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langarith.experiments.cells import Cell
from langarith.experiments.config import Config
from langarith.experiments.runner import Runner
from langarith.experiments.setting import SETTINGS
from langarith.experiments.table import write_seed_summary


def runner_for(config: Config, out: Path, **kwargs: Any) -> Runner:
    """The runner the config's setting runs on (a decoder's, or MAD-X adapters on an encoder)."""
    return SETTINGS[config.setting].runner(config, out, **kwargs)


def run(config: Config, out: Path, **kwargs: Any) -> list[Cell]:
    """The experiment as configured: one run, or with the budget's `seeds` one run per seed in `out/seed-N`
    and, in `out`, the table of mean ± standard deviation over seeds (`results.md`, `results.csv`)."""
    seeds = config.spend.seeds
    if not seeds:
        return runner_for(config, out, **kwargs).run()
    out = Path(out).expanduser()
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
