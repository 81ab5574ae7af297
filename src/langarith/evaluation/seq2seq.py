"""Evaluation of an encoder-decoder (T5, mT5; paper 1 itself used a decoder) + module, merged into the weights
as for decoders (`DecoderEvaluator` does the merging, batching and λ search): the prompt is the encoder's
input, ending with EOS as training gives it; classification scores each label as the decoder's continuation
from its start token, generation decodes greedily from there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langarith.evaluation.decoder import DecoderEvaluator
from langarith.prompts import fit_prompt, target
from langarith.tasks import Example


class Seq2SeqEvaluator(DecoderEvaluator):
    family = "encoder-decoder"

    def _prompt(self, ids: list[int]) -> list[int]:
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        return fit_prompt(ids, self.max_prompt - len(eos)) + eos

    def _right_pad(self, seqs: list[list[int]]) -> tuple[Any, Any]:
        import torch

        ids = torch.full((len(seqs), max(map(len, seqs))), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
        return ids.to(self.device), mask.to(self.device)

    def _label_scoring(self, examples: Sequence[Example], labels: Sequence[str], description: str) -> list[str]:
        """The label with the highest log p(label tokens | prompt): the encoder runs once per batch, the decoder
        once per label on the label's own tokens."""
        import torch

        start = self.model.config.decoder_start_token_id
        label_ids = [self.tokenizer(target(lab), add_special_tokens=False)["input_ids"] for lab in labels]
        out: list[str] = [""] * len(examples)
        for rows, prompts in self._batches(examples, description):
            ids, mask = self._right_pad(prompts)
            encoded = self.model.get_encoder()(input_ids=ids, attention_mask=mask)
            scores = torch.empty(len(rows), len(labels), device=self.device)
            for k, lab in enumerate(label_ids):
                inputs = torch.tensor([[start, *lab[:-1]]] * len(rows), device=self.device)
                logits = self.model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=inputs).logits
                wanted = torch.tensor(lab, device=self.device)
                logp = logits.float().log_softmax(-1)[:, torch.arange(len(lab), device=self.device), wanted]
                scores[:, k] = logp.sum(1)
            for row, best in zip(rows, scores.argmax(1).tolist(), strict=True):
                out[row] = labels[best]
        return out

    def _generate(self, examples: Sequence[Example], max_new_tokens: int, description: str) -> list[str]:
        tok = self.tokenizer
        out: list[str] = [""] * len(examples)
        for rows, prompts in self._batches(examples, description):
            ids, mask = self._right_pad(prompts)
            gen = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                      do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            for row, seq in zip(rows, gen, strict=True):
                out[row] = tok.decode(seq, skip_special_tokens=True).split("\n")[0].strip()
        return out
