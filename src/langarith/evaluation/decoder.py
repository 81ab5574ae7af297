"""Evaluation of a decoder + module on a task, with the module merged into the weights.

A `DecoderEvaluator` loads the base model once. For each module it merges ΔW into the weights, evaluates, and
then restores the original weights from a snapshot taken before the merge — not by un-merging, which would leave
float rounding behind and make "λ = 1 reproduces the baseline" only approximately true. The merge happens in
memory (`evaluation.deltas`: PEFT's formula in PEFT's dtype order, so the weights equal PEFT's own merge bit for
bit); only a module that cannot be expressed there goes through PEFT, from its folder (a temporary one for a
module in memory). λ search therefore costs one model load and writes nothing to disk.

Classification is label scoring: the prompt runs once with a KV cache, every label's first token is read
off the prompt's last position, and only labels longer than one token run a short continuation on the
repeated cache. Generation is greedy decoding, cut at the first newline.

On a GPU the model runs there, in fp32: merging a small ΔW into bf16 weights would round much of it away.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langarith import models
from langarith.arith.formats import save
from langarith.arith.module import Module
from langarith.core import devices, timing
from langarith.core.progress import progress
from langarith.evaluation import deltas
from langarith.evaluation.base import (
    EvalResult,
    EvaluationError,
    cached_search,
    check_batch_size,
    finite,
    load_examples,
    same_base,
)
from langarith.prompts import fit_prompt, target
from langarith.scoring.metrics import rouge_tokenizer
from langarith.tasks import Example, Task, get_task


class DecoderEvaluator:
    """One base model in memory; modules come and go."""

    family = "decoder"  # the model family this evaluator prompts

    def __init__(self, model: str | None = None, *, batch_size: int | None = None, max_prompt: int = 224,
                 progress: bool = True, console: Any = None, rouge_tokenizer: str | Path | None = None):
        check_batch_size(batch_size)
        info = models.resolve(model)
        if info.family != self.family:
            raise EvaluationError(f"{info.name} is a {info.family} model; this evaluator prompts a "
                                  f"{self.family} (encoders are evaluated through AdapterHub heads, MAD-X)")
        loaded, _ = models.load(info)
        self._hold(info, models.load_tokenizer(info), loaded.to(devices.device()).eval(), devices.device(),
                   batch_size, max_prompt, progress, console, rouge_tokenizer)
        self.model.config.use_cache = True

    @classmethod
    def attached(cls, model: Any, info: Any, tokenizer: Any, *, batch_size: int | None = None,
                 max_prompt: int = 224, rouge_tokenizer: str | Path | None = None) -> DecoderEvaluator:
        """An evaluator over `model` as it stands: a model in memory with its module attached (a run being
        trained), in the mode and on the device it is in; `evaluate(None, …)` scores it, nothing is loaded or
        merged."""
        evaluator = cls.__new__(cls)
        evaluator._hold(info, tokenizer, model, next(model.parameters()).device, batch_size, max_prompt, False,
                        None, rouge_tokenizer)
        return evaluator

    def _hold(self, info: Any, tokenizer: Any, model: Any, device: Any, batch_size: int | None, max_prompt: int,
              progress: bool, console: Any, rouge_tokenizer: str | Path | None) -> None:
        self.info, self.tokenizer, self.model, self.device = info, tokenizer, model, device
        self.batch_size = devices.eval_batch_size(info.family, batch_size)
        self.max_prompt, self.progress, self.console = max_prompt, progress, console
        self.pieces = _pieces(tokenizer, rouge_tokenizer)  # SentencePiece-ROUGE's tokenizer

    # --- modules in and out of the weights ---------------------------------------------------------
    @contextlib.contextmanager
    def merged(self, module: Module | str | Path | None) -> Iterator[Any]:
        """The model with `module` merged into its weights; the weights are restored on exit."""
        if module is None:
            yield self.model
            return
        loaded = finite(module)
        same_base(loaded, self.info)
        if loaded.format != "peft":
            raise EvaluationError(f"{_label(module)} is a {loaded.format} module; merged evaluation takes PEFT modules "
                                  "(LoRA, LoKr). Bottleneck adapters run through AdapterHub on encoders")
        snapshot = self._merge(module, loaded)
        try:
            yield self.model
        finally:
            deltas.restore(snapshot)

    def _merge(self, module: Module | str | Path, loaded: Module) -> list[tuple[Any, Any]]:
        """Merge `loaded` (the module `module` names) in memory where `deltas` can express it, else through PEFT;
        returns the snapshot of the weights it changed."""
        plan = deltas.plan_saved(self.model, loaded)
        if plan is None:
            with tempfile.TemporaryDirectory(prefix="langarith-eval-") as tmp:
                return self._merge_with_peft(_as_folder(module, Path(tmp)), _label(module))
        try:
            return deltas.merge(self.model, loaded, plan)
        except deltas.DoesNotFit as err:
            raise EvaluationError(self._misfit(_label(module), err)) from err

    def _merge_with_peft(self, folder: Path, label: str) -> list[tuple[Any, Any]]:
        """PEFT's own load and merge, for modules the in-memory merge cannot express (see `evaluation.deltas`)."""
        from peft import PeftModel
        from peft.tuners.tuners_utils import BaseTunerLayer

        try:
            wrapped = PeftModel.from_pretrained(self.model, str(folder)).to(self.device)
        except (RuntimeError, ValueError, KeyError) as err:
            raise EvaluationError(self._misfit(label, err)) from err
        snapshot = []
        for _, layer in wrapped.named_modules():
            if isinstance(layer, BaseTunerLayer):
                base = layer.get_base_layer()
                snapshot += [(p, p.detach().clone()) for p in base.parameters(recurse=False)]
        merged = wrapped.merge_and_unload()
        for attr in ("peft_config", "_hf_peft_config_loaded"):  # leave the base model as it was found
            if attr in merged.__dict__:
                delattr(merged, attr)
        self.model = merged
        return snapshot

    def _misfit(self, label: str, err: Exception) -> str:
        return (f"{label} does not fit {self.info.name}: {err}. Evaluate it with the base model it was trained on "
                "(--model)")

    # --- predictions ----------------------------------------------------------------------------------
    def predict(self, task: Task, examples: Sequence[Example], labels: Sequence[str] | None = None,
                description: str = "evaluating") -> list[str]:
        import torch

        with torch.inference_mode():
            if task.kind == "classification":
                if not labels:
                    raise EvaluationError(f"{task.name}: label scoring needs the label set (labels.txt next to the "
                                          "data)")
                return self._label_scoring(examples, labels, description)
            return self._generate(examples, task.max_new_tokens, description)

    def _batches(self, examples: Sequence[Example], description: str) -> Iterator[tuple[list[int], list[list[int]]]]:
        """Batches of (row indices, prompt ids), similar lengths together so little is padded."""
        prompts = [self._prompt(ids)
                   for ids in self.tokenizer([e.prompt for e in examples], add_special_tokens=False)["input_ids"]]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        with progress(self.progress, self.console, transient=True) as bar:
            job = bar.add_task(description, total=len(prompts))
            for start in range(0, len(order), self.batch_size):
                timing.check(description)
                rows = order[start:start + self.batch_size]
                yield rows, [prompts[i] for i in rows]
                bar.update(job, advance=len(rows))

    def _prompt(self, ids: list[int]) -> list[int]:
        """A prompt's ids as the model reads them: BOS first, cut to `max_prompt` as training cuts them."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        return fit_prompt(bos + ids, self.max_prompt)

    def _left_pad(self, seqs: list[list[int]]) -> tuple[Any, Any, Any]:
        import torch

        length = max(map(len, seqs))
        ids = torch.full((len(seqs), length), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            ids[i, length - len(s):] = torch.tensor(s)
            mask[i, length - len(s):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        return ids, mask, (mask.cumsum(1) - 1).clamp(min=0)

    def _label_scoring(self, examples: Sequence[Example], labels: Sequence[str], description: str) -> list[str]:
        """The label with the highest log p(label tokens | prompt)."""
        tok = self.tokenizer
        label_ids = [tok(target(lab), add_special_tokens=False)["input_ids"] for lab in labels]
        longer = [k for k, ids in enumerate(label_ids) if len(ids) > 1]
        out: list[str] = [""] * len(examples)
        for rows, prompts in self._batches(examples, description):
            ids, mask, pos = self._left_pad(prompts)
            res = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
            first = res.logits[:, -1].float().log_softmax(-1)
            scores = first[:, [lab[0] for lab in label_ids]].clone()
            if longer:
                scores[:, longer] += self._continuations(res.past_key_values, mask, pos,
                                                         [label_ids[k] for k in longer])
            for row, best in zip(rows, scores.argmax(1).tolist(), strict=True):
                out[row] = labels[best]
        return out

    def _continuations(self, cache: Any, mask: Any, pos: Any, label_ids: list[list[int]]) -> Any:
        """log p(tokens 2… of each label | prompt, token 1), for labels of two or more tokens: (batch, labels)."""
        import torch

        k, batch = len(label_ids), mask.shape[0]
        width = max(len(x) for x in label_ids) - 1
        inputs = torch.full((batch * k, width), self.tokenizer.pad_token_id, dtype=torch.long)
        wanted = torch.full_like(inputs, -1)
        for j, lab in enumerate(label_ids):
            inputs[j::k, : len(lab) - 1] = torch.tensor(lab[:-1])
            wanted[j::k, : len(lab) - 1] = torch.tensor(lab[1:])
        inputs, wanted = inputs.to(self.device), wanted.to(self.device)
        cache.batch_repeat_interleave(k)
        full_mask = torch.cat([mask.repeat_interleave(k, 0), (wanted >= 0).long()], 1)
        positions = pos[:, -1:].repeat_interleave(k, 0) + torch.arange(1, width + 1, device=self.device)
        hidden = self.model.model(input_ids=inputs, attention_mask=full_mask, position_ids=positions,
                                  past_key_values=cache, use_cache=True).last_hidden_state
        scored = wanted >= 0
        logp = _head(self.model, hidden[scored]).float().log_softmax(-1)
        per_token = logp.gather(1, wanted[scored][:, None])[:, 0]
        total = torch.zeros(batch * k, device=self.device).index_add_(0, scored.nonzero()[:, 0], per_token)
        return total.view(batch, k)

    def _generate(self, examples: Sequence[Example], max_new_tokens: int, description: str) -> list[str]:
        tok = self.tokenizer
        out: list[str] = [""] * len(examples)
        for rows, prompts in self._batches(examples, description):
            ids, mask, _ = self._left_pad(prompts)
            gen = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                      do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            for row, seq in zip(rows, gen[:, ids.shape[1]:], strict=True):
                out[row] = tok.decode(seq, skip_special_tokens=True).split("\n")[0].strip()
        return out

    # --- one evaluation ---------------------------------------------------------------------------------
    def evaluate(self, module: Module | str | Path | None, task: str | Task, data: str | Path, language: str,
                 split: str = "test", limit: int | None = None, examples: Sequence[Example] | None = None,
                 labels: Sequence[str] | None = None) -> EvalResult:
        task = get_task(task) if isinstance(task, str) else task
        if examples is None:
            examples = load_examples(task, data, language, split, limit)
        if labels is None and task.kind == "classification":
            labels = task.labels(Path(data), language)
        started = time.time()
        with self.merged(module):
            predictions = self.predict(task, examples, labels, f"{task.name} {language} {split}")
        scores = task.score(examples, predictions, language, self.pieces)
        return EvalResult(task.name, language, split, _label(module) if module is not None else None, scores,
                          predictions, len(examples), time.time() - started)


    def tune(self, build: Callable[[float], Module], task: Task, dev: Sequence[Example], language: str,
             labels: Sequence[str] | None, grid: Sequence[float], strategy: str, seed: int = 0) -> Any:
        """λ on validation examples only: `build(λ)` is the composed module, merged while its rows are
        predicted."""

        def predict(lam: float, examples: list[Example]) -> list[str]:
            with self.merged(build(lam)):
                return self.predict(task, examples, labels, f"dev λ={lam:g}")

        return cached_search(predict, task, dev, language, grid, strategy, seed, self.pieces)


def _head(model: Any, hidden: Any) -> Any:
    """The LM head on selected hidden states, with the final soft-capping some models apply."""
    import torch

    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def _pieces(tokenizer: Any, rouge: str | Path | None) -> Callable[[str], list[str]]:
    """SentencePiece-ROUGE's tokenizer: the one named (a .model file, a tokenizer folder or a hub id), else the
    evaluated model's own tokenizer."""
    if rouge is not None:
        return rouge_tokenizer(rouge)
    return tokenizer.tokenize


def _as_folder(module: Module | str | Path, tmp: Path) -> Path:
    if isinstance(module, Module):
        return save(module, tmp / "module")
    folder = Path(module).expanduser()
    if not folder.exists():
        raise EvaluationError(f"{folder} does not exist; pass a module folder written by langarith, PEFT or compose")
    return folder


def _label(module: Module | str | Path | None) -> str:
    if isinstance(module, Module):
        return module.label
    return str(module)
