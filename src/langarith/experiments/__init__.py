"""`langarith experiment CONFIG.yaml`: the papers' tables from a YAML config — train what is missing, compose,
tune λ on dev, evaluate on test, and write results.csv / results.json / results.md with the plots.

- `config`: the YAML, validated (`load_config`);
- `setting`: the registry of settings, one per table; `settings/`: one file per setting, each the plan of its
  table (`plan`: rows naming the modules they need and the recipe that builds them);
- `family`: what differs between decoder tables and MAD-X tables, as values;
- `store` (modules: keys, plan, train, load), `bench` (examples, evaluation, λ), `runner` (executes a plan);
- `cells`: a cell, and the record a stopped run continues from; `record`, `table`, `trained` (how each module
  trained), `report`: what is written;
- `run`: one run, or one per seed with their mean; `demo`: the README's main job.
"""

from __future__ import annotations

from langarith.experiments import settings as _settings  # noqa: F401  (registers the settings)
from langarith.experiments.cells import Cell
from langarith.experiments.config import Budget, Config, load_config
from langarith.experiments.run import run, runner_for
from langarith.experiments.setting import SETTINGS, ExperimentError

__all__ = ["SETTINGS", "Budget", "Cell", "Config", "ExperimentError", "load_config", "run", "runner_for"]
