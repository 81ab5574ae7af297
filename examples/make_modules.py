"""Make small PEFT LoRA modules to try `langarith compose` and the Python API on, in seconds on a CPU.

They sit on a tiny randomly initialised Llama-style model (not a real language model), so the numbers
mean nothing, but the folders are real PEFT modules: `task_en`, `task_ar`, `task_ru` ("task" modules in
three languages), `lang_en` and `lang_pt` ("language" modules), rank 4 on q, k, v, o. `langarith train`
makes real ones on Gemma 3 270M.

    python examples/make_modules.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM


def tiny_base() -> LlamaForCausalLM:
    """The tiny random base model every module here sits on (the same weights each call)."""
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2))


def main(out: Path) -> None:
    for seed, (name, language, role) in enumerate(
        [("task_en", "en", "task"), ("lang_en", "en", "language"), ("lang_pt", "pt", "language"),
         ("task_ar", "ar", "task"), ("task_ru", "ru", "task")]
    ):
        base = tiny_base()
        torch.manual_seed(seed + 1)
        lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                          init_lora_weights=False)
        model = get_peft_model(base, lora)
        model.peft_config["default"].base_model_name_or_path = "tiny-random-llama"
        model.save_pretrained(out / name, save_embedding_layers=False)  # no hub lookup of the made-up base name
        (out / name / "langarith.json").write_text(json.dumps({"language": language, "role": role}, indent=2))
        print(f"made {out / name} ({role} module, {language})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "modules"))
