"""Experiment configs: a YAML file validated by pydantic (unknown keys are errors) naming the setting, task,
data, sources, targets, method, text sources and budgets. The setting, task and method are names from their
registries; the rows a table has, and what a setting needs, come from the setting itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from langarith.core.registry import suggest, unknown
from langarith.data import DATASETS, is_hub, locate
from langarith.experiments.setting import SETTINGS, ExperimentError, with_label_free
from langarith.languages.codes import find_in, resolve, same_language
from langarith.languages.corpora import CorpusError, check_source
from langarith.languages.typology import (
    DEFAULT_KIND,
    KINDS,
    PAPER_MAX_GEOGRAPHIC,
    PAPER_MAX_SYNTACTIC,
    RULES,
    Choice,
    Rule,
    choose_related,
    distances_to,
)
from langarith.methods import METHODS
from langarith.scoring.choosers import names
from langarith.scoring.search import DEFAULT_STRATEGY, GRID_STEP
from langarith.tasks import TASKS, get_task, rouge_tasks, split_name
from langarith.training.spec import DEFAULT_STEPS, default


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budget(Strict):
    """How much a config spends: steps, data, the λ grid and search, seeds, precision. Training defaults are
    the trainer's own (`TrainSpec`)."""

    model: str | None = None  # overrides the config's model (smoke: "tiny")
    targets: list[str] | None = None  # a subset of the config's targets (smoke and cpu budgets of long lists)
    task_steps: int = Field(DEFAULT_STEPS, ge=1)  # training steps of each task module
    language_steps: int | None = Field(None, ge=1)  # training steps of each language module
    language_tokens: int | None = Field(None, ge=1)  # or its length in text tokens
    batch_size: int = Field(default("batch_size"), ge=1)  # training sequences per step
    seq_len: int = Field(default("seq_len"), ge=8)  # tokens per language-module training sequence
    dev_limit: int | None = Field(None, ge=1)  # only the first this-many dev rows (default: all)
    test_limit: int | None = Field(None, ge=1)  # only the first this-many test rows (default: all)
    lambda_step: float = Field(GRID_STEP, gt=0, le=1)  # the λ grid's step
    lambda_low: float = Field(0.0, ge=0, le=1)  # the λ grid's lowest value (its highest is 1)
    search: str = DEFAULT_STRATEGY  # a λ chooser that reads the target's labels (langarith.scoring.choosers)
    random_draws: int = Field(3, ge=1)  # draws of the random-sources control (add-random)
    text: list[str] | None = None  # language-module corpora; {lang} is replaced (default: the config's)
    lr: float | None = Field(None, gt=0)  # default: the trainer's (2e-4, paper 1's LoRA rate)
    warmup: float | None = Field(None, ge=0)  # warm-up steps, or a fraction below 1 of the run; default: none
    schedule: Literal["constant", "linear", "cosine"] | None = None  # the rate after warm-up; default: constant
    clip: float | None = Field(None, gt=0)  # the gradients' largest global norm; default: no clipping
    grad_accum: int | None = Field(None, ge=1)  # micro-batches of batch_size per step; default: 1
    #: the config's method_options this budget changes (smoke: a Kronecker shape the tiny model's layers divide)
    method_options: dict[str, Any] | None = None
    task_epochs: float | None = Field(None, gt=0)  # task modules: passes over their examples instead of task_steps
    eval_every: int | None = Field(None, ge=1)  # score modules on validation every this many steps; default: never
    keep: Literal["last", "best"] | None = None  # the step each module is saved at; best: on validation (eval_every)
    token_budgets: list[int] | None = None  # low-resource: the target's text is cut to each of these sizes
    seeds: list[int] | None = None  # run the whole table once per seed (modules retrained) and report mean ± sd
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # training; auto: bf16 on a GPU, fp32 on the CPU
    eval_batch_size: int | None = Field(None, ge=1)  # default: the device's (16 on the CPU, 64 on a GPU)
    #: independent module trainings at once (`langarith.training.pool`); default: 4 per GPU, 1 on the CPU
    workers: int | None = Field(None, ge=1)
    executor: Literal["processes", "submitit"] = "processes"  # submitit: Slurm jobs (or its local backend)
    executor_options: dict[str, Any] = Field(default_factory=dict)  # submitit's update_parameters (+ cluster)

    @model_validator(mode="after")
    def _check(self) -> Budget:
        if self.language_steps is not None and self.language_tokens is not None:
            raise ValueError("give language_steps or language_tokens, not both")
        if self.keep == "best" and self.eval_every is None:
            raise ValueError("keep: best keeps the step best on validation: give eval_every (steps between scores)")
        if self.search not in names("labels"):
            raise ValueError(unknown("λ search", self.search, names("labels")))
        _check_text(self.text or [])
        return self


def _check_text(specs: list[str]) -> None:
    """Every text source names a file or a corpus (a misspelt scheme would be skipped for every language)."""
    for spec in specs:
        try:
            check_source(spec)
        except CorpusError as err:
            raise ValueError(str(err)) from err


def _check_data(data: str | None) -> None:
    """A dataset is a name `langarith.data` knows, `hf:…`, or a path: a bare word that is none of them is a
    misspelt name (a folder of that name is written `./NAME`), refused here rather than at the first read."""
    if data is None or data in DATASETS or is_hub(data) or any(c in data for c in "/\\.~"):
        return
    if not Path(data).exists():
        raise ValueError(f"data: {data!r} is neither a dataset nor a path here{suggest(data, DATASETS)}; give one of "
                         f"{', '.join(DATASETS)}, or the path of a data folder or file")


#: a Hugging Face id: a name, or owner/name
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "spiece.model", "sentencepiece.bpe.model")


def _check_rouge_tokenizer(spec: str | None, task: str) -> None:
    """ROUGE's tokenizer is for a task scored by ROUGE, and names a .model file, a tokenizer folder or a hub id."""
    if spec is None:
        return
    if task not in rouge_tasks():
        raise ValueError(f"rouge_tokenizer: task {task} is not scored by ROUGE; leave it out (the tasks scored by "
                         f"ROUGE: {', '.join(rouge_tasks())})")
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix != ".model":
        raise ValueError(f"rouge_tokenizer: {spec} is a file but no SentencePiece .model; give a .model file, a "
                         "tokenizer folder or a hub id (e.g. google/mt5-small)")
    if path.is_dir() and not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise ValueError(f"rouge_tokenizer: {spec} holds no tokenizer ({', '.join(_TOKENIZER_FILES)}); give the "
                         "folder a tokenizer was saved to, a .model file or a hub id")
    if not path.exists() and (spec.startswith((".", "/", "~")) or spec.endswith(".model")
                              or not _HUB_ID.fullmatch(spec)):
        raise ValueError(f"rouge_tokenizer: {spec} does not exist and is no Hugging Face id; give a SentencePiece "
                         ".model file, a tokenizer folder or a hub id (e.g. google/mt5-small)")


class Typology(Strict):
    """How the related sources and LA's partner are picked where the config pins none
    (`langarith.languages.typology.related`; `langarith related` takes the same options)."""

    rule: str = "paper"  # paper: both thresholds; top-k: the k closest by kind; nearest: the closest by kind
    kind: str = DEFAULT_KIND  # the distance that ranks top-k, nearest, LA's partner and weights add-weighted
    k: int = Field(3, ge=1)  # top-k: how many sources
    max_syntactic: float = Field(PAPER_MAX_SYNTACTIC, ge=0, le=1)  # paper: syntactic distance below this
    max_geographic: float = Field(PAPER_MAX_GEOGRAPHIC, ge=0, le=1)  # paper: geographic distance below this

    @model_validator(mode="after")
    def _check(self) -> Typology:
        if self.rule not in RULES:
            raise ValueError(unknown("rule", self.rule, RULES))
        if self.kind not in KINDS:
            raise ValueError(unknown("distance kind", self.kind, KINDS))
        return self

    def as_rule(self) -> Rule:
        return Rule(**self.model_dump())


#: budget names, smallest first: `cpu-large` is the most two CPU cores can run in one sitting (≈2 h)
BudgetName = Literal["smoke", "demo", "cpu", "cpu-large", "full"]


class Config(Strict):
    name: str  # names the results folder (runs/NAME-BUDGET)
    setting: str  # a registered experiment setting (langarith.experiments.settings)
    task: str  # a registered task (langarith.tasks)
    #: the dataset: its name (`langarith.data`, found in the usual places) or a path (default: the task's)
    data: str | None = None
    #: the paper's table or figure this layout reproduces ("paper 1, Figure 2"), named in results.md
    reproduces: str | None = None
    sources: list[str] = Field(min_length=1)  # languages with labeled data (task modules)
    targets: list[str] = Field(min_length=1)  # languages evaluated (a table column each)
    methods: list[str] | None = None  # rows; default: every row of the setting
    model: str | None = None  # base model: a hub id, a folder, default, default-encoder (default: default)
    method: str = "lora"  # a registered PEFT method (langarith.methods)
    pool: list[str] = Field(default_factory=list)  # language-arithmetic partners (their language adapters)
    #: per target, the related sources a paper published (`{mr: [bn, te, tr]}`), used instead of the rule
    related: dict[str, list[str]] = Field(default_factory=dict)
    #: per target, LA's partner a paper published (`{ar: sw}`), used instead of the nearest in the pool
    partner: dict[str, str] = Field(default_factory=dict)
    typology: Typology = Field(default_factory=Typology)  # how the unpinned related sources and partners are picked
    #: sources-sweep: how many sources each row averages, the k nearest to the target or k drawn at random
    source_counts: list[int] = Field(default_factory=list)
    method_options: dict[str, Any] = Field(default_factory=dict)  # the method's options (rank, alpha, …)
    text: list[str] = Field(default_factory=lambda: ["tatoeba:{lang}"])  # language-module corpora ({lang})
    train_split: dict[str, str] = Field(default_factory=dict)  # per source; default "train"
    dev_split: str = "dev"  # where λ is chosen
    test_split: str = "test"  # where the table is scored
    seed: int = 0  # training seed of every module
    #: ROUGE's tokenizer for tasks scored by ROUGE (headline, xlsum): a SentencePiece .model file, a tokenizer folder
    #: or a hub id (paper 1's: google/mt5-small, mT5's SentencePiece); default: the evaluated model's own tokenizer.
    #: Checkpoint selection (`eval_every`) scores task modules on dev with the same pieces.
    rouge_tokenizer: str | None = None
    #: label-free λ strategies (`langarith.scoring.label_free`): each of the setting's method rows gets a twin whose λ
    #: was chosen without the target's labels (`la@transfer`), tested against the dev-tuned row
    label_free: list[str] = Field(default_factory=list)
    budget: BudgetName = "cpu"  # the budget run unless --budget says otherwise
    budgets: dict[BudgetName, Budget]  # what each budget spends
    _source: Path | None = PrivateAttr(None)  # the YAML it was read from (`load_config`), for results.json

    @model_validator(mode="after")
    def _check(self) -> Config:
        for registry, name in ((SETTINGS, self.setting), (TASKS, self.task), (METHODS, self.method)):
            if name not in registry:
                raise ValueError(unknown(registry.what, name, registry))
        _check_data(self.data)
        _check_text(self.text)
        _check_rouge_tokenizer(self.rouge_tokenizer, self.task)
        self.dev_split, self.test_split = split_name(self.dev_split), split_name(self.test_split)
        self.train_split = {lang: split_name(split) for lang, split in self.train_split.items()}
        if self.budget not in self.budgets:
            raise ValueError(f"budget {self.budget!r} is not defined under budgets ({', '.join(self.budgets)})")
        chosen = self.spend.targets
        if chosen is not None:
            outside = [t for t in chosen if not any(same_language(t, u) for u in self.targets)]
            if outside or not chosen:
                raise ValueError(f"budget {self.budget}: targets {outside or '[]'} are not among the config's "
                                 f"targets ({', '.join(self.targets)})")
            self.targets = list(chosen)  # what runs is what results.json records
        free = names("inputs", "elsewhere", "nothing")
        unknown_strategies = [s for s in self.label_free if s not in free]
        if unknown_strategies:
            raise ValueError(f"label_free: unknown strategies {unknown_strategies}; known: {', '.join(free)}"
                             f"{suggest(unknown_strategies[0], free)}")
        elsewhere = [s for s in self.label_free if s in names("elsewhere")]
        if elsewhere and len(self.targets) < 2:
            raise ValueError(f"label_free {elsewhere[0]} takes λ from the other targets' dev data: give at least two "
                             "targets")
        rows = self.all_rows()
        missing = [m for m in self.methods or () if m not in rows]
        if missing:
            raise ValueError(f"methods {missing} do not exist for setting {self.setting}; known: {', '.join(rows)}"
                             f"{suggest(missing[0], rows)}")
        for field_name in ("sources", "targets", "pool"):
            seen: dict[str, str] = {}
            for code in getattr(self, field_name):
                iso3 = resolve(code).iso639_3  # an unknown code is an error that suggests close matches
                if iso3 in seen:
                    raise ValueError(f"{field_name} names one language twice: {seen[iso3]} and {code}")
                seen[iso3] = code
        _check_pins(self.related, self.partner)
        for target, codes in self.related.items():
            outside = [c for c in codes if find_in(c, self.sources) is None]
            if outside or not codes:
                raise ValueError(f"related: {target}'s sources {outside or '[]'} are not among the config's sources "
                                 f"({', '.join(self.sources)})")
        for target, code in self.partner.items():
            if find_in(code, self.pool) is None:
                raise ValueError(f"partner: {target}'s partner {code} is not in the pool ({', '.join(self.pool)})")
        test = self.test_split.strip().lower()
        if self.dev_split.strip().lower() in ("test", test):
            raise ValueError(f"dev_split {self.dev_split!r} is the test split: λ would be tuned on the rows it is "
                             "scored on. Use the dev split")
        for lang, split in self.train_split.items():
            if split.strip().lower() == test and any(same_language(lang, t) for t in self.targets):
                raise ValueError(f"train_split {lang}: {split} trains on the test split of a target; a source with no "
                                 "train split may use its test split only when it is not evaluated")
        problem = SETTINGS[self.setting].check(self)
        if problem:
            raise ValueError(problem)
        return self

    def all_rows(self) -> list[str]:
        setting = SETTINGS[self.setting]
        return with_label_free(setting, setting.rows(self), self.label_free)

    @property
    def rows(self) -> list[str]:
        return list(self.methods or self.all_rows())

    @property
    def source(self) -> Path | None:
        """The file this config was read from (None: made in Python)."""
        return self._source

    @property
    def spend(self) -> Budget:
        return self.budgets[self.budget]

    def on_model(self, model: str) -> Config:
        """This config with `model` as the base of every module and evaluation (`langarith experiment --model`): the
        config's `model` and every budget's (smoke's tiny model included) give way to it."""
        budgets = {name: budget.model_copy(update={"model": None}) for name, budget in self.budgets.items()}
        changed = self.model_copy(update={"model": model, "budgets": budgets})
        changed._source = self._source
        return changed

    @property
    def options(self) -> dict[str, Any]:
        """The method's options under the budget run: the config's `method_options`, then the budget's."""
        return {**self.method_options, **(self.spend.method_options or {})}

    def related_to(self, target: str) -> Choice:
        """The related sources of `target`: those the config pins for it, else the paper's rule over the
        sources (`langarith.languages.typology.choose_related`)."""
        pinned = find_in(target, self.related)
        if pinned is None:
            return choose_related(target, self.sources, self.typology.as_rule())
        codes = [find_in(c, self.sources) for c in self.related[pinned]]  # as the sources spell them
        return Choice(codes, "related (pinned by the config): " + ", ".join(codes))

    def partner_of(self, target: str, source: str) -> tuple[str, str]:
        """LA's partner for `target` and the note the table shows: the one the config pins, else the pool
        language nearest to it by URIEL (never the target or the source)."""
        pinned = find_in(target, self.partner)
        if pinned is not None:
            code = find_in(self.partner[pinned], self.pool)
            return code, f"rel = {code} (pinned by the config)"
        code = nearest_partner(target, self.pool, source, self.typology.kind)
        return code, f"rel = {code} (nearest to {target} in the pool by URIEL)"

    def distances_to(self, target: str) -> dict[str, float]:
        """The typology kind's distance from `target` to each source (what add-weighted weights by)."""
        return distances_to(target, self.sources, self.typology.kind)

    def data_path(self, data: Path | None = None) -> Path:
        """Where the config's dataset is read from: a path it names, else the dataset by name in `data` (a data
        folder), `$LANGARITH_DATA`, the data folder beside the checkout or the Hugging Face hub."""
        task = get_task(self.task)
        if self.data is None or self.data == task.dataset:
            return task.where(data)
        if self.data in DATASETS:
            return locate(self.data, data)
        return task.where(self.data)  # a path (or hf:…): used as it is, an error if it does not exist


def nearest_partner(target: str, pool: Sequence[str], source: str, kind: str = DEFAULT_KIND) -> str:
    """LA's partner for `target` by the rule: the pool language nearest to it by URIEL's `kind` distance (never the
    target or the source)."""
    return choose_related(target, pool, Rule(rule="nearest", kind=kind), exclude=[target, source]).codes[0]


def _check_pins(related: dict[str, list[str]], partner: dict[str, str]) -> None:
    """A pinned target is a language code (one pin may serve several configs, so it need not be evaluated here), and
    is never pinned to itself."""
    for field_name, pins in (("related", related), ("partner", partner)):
        for target, pinned in pins.items():
            resolve(target)  # an unknown code is an error that suggests close matches
            if any(same_language(target, code) for code in ([pinned] if isinstance(pinned, str) else pinned)):
                raise ValueError(f"{field_name}: {target} is pinned to itself; pin other languages")


MAX_ALIASES = 100  # YAML aliases a config may use: enough for shared budgets, far from an alias bomb
MAX_VALUES = 100_000  # values a config may hold once its aliases are expanded (the largest shipped: a few hundred)
MAX_DEPTH = 50  # nesting of lists and mappings a config may have (the shipped ones: 4)


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, with caps on aliases, on the values they expand into and on nesting: a few hundred bytes
    of aliases, each naming the one before twice, otherwise expand into 2^N values when validated."""

    aliases = 0
    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (&anchor / *alias); write the values out")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.YAMLError(f"lists or mappings nested more than {MAX_DEPTH} deep; a config is a few levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None and _expanded_size(node) > MAX_VALUES:
            raise yaml.YAMLError(f"its aliases expand into more than {MAX_VALUES:,} values (an alias bomb?); write "
                                 "the values out")
        return node


def _expanded_size(root: yaml.Node) -> int:
    """How many values the node graph holds once every alias is expanded, counted with each shared node's size
    known once (so that counting takes as long as the file is, not as long as its expansion)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if ready or not children:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_VALUES + 1)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_config(path: str | Path, budget: str | None = None) -> Config:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ExperimentError(f"{path} {'is not a file' if path.exists() else 'does not exist'}; pass an experiment "
                              "YAML (see configs/)")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ExperimentError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ExperimentError(f"{path} holds a {type(raw).__name__}, not a mapping of settings (name:, setting:, "
                              "task: …); see configs/")
    if budget is not None:
        raw["budget"] = budget
    try:
        config = Config.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in err.errors())
        raise ExperimentError(f"{path}: {problems}") from err
    config._source = path
    return config
