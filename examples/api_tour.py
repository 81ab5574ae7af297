"""A notebook's tour of langarith's Python API, as a script (seconds on a CPU; the tests run it): load modules,
compose them as paper 1 writes Add & Subtract, save the result as a PEFT folder with its provenance, and apply it
to a loaded model in memory — the same logits as PEFT loading the saved folder.

    python examples/api_tour.py [WORK_DIR]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch
from make_modules import main as make_modules
from make_modules import tiny_base
from peft import PeftModel

import langarith
from langarith.arith.recipes import add_subtract


def tour(work: Path) -> None:
    # 1. Modules to compose: real PEFT LoRA folders on a tiny random model (examples/make_modules.py).
    make_modules(work / "modules")
    task_en = langarith.load(work / "modules" / "task_en")
    lang_en, lang_pt = (langarith.load(work / "modules" / f"lang_{c}") for c in ("en", "pt"))
    print(task_en)  # one line: what the module is

    # 2. Paper 1's eq. 2, θ_task;pt = λ·θ_task;en + (1−λ)·(θ_LM;pt − θ_LM;en): symbolic until materialised.
    theta = add_subtract(task=task_en, target=lang_pt, source=lang_en, lam=0.7)
    print(theta)
    module = theta.materialize("factor")  # element-wise on the LoRA factors, as the papers do

    # 3. Saved as a PEFT folder that PEFT loads unchanged, with what made it.
    folder = langarith.save(module, work / "task_pt", overwrite=True)
    provenance = json.loads((folder / "langarith.json").read_text(encoding="utf-8"))["provenance"]
    print("weights", provenance["weights"])

    # 4. Applied to a loaded model in memory (no folder, no PEFT wrapper), the weights restored after...
    model, ids = tiny_base().eval(), torch.tensor([[1, 5, 9, 13, 17]])
    with torch.no_grad(), langarith.applied(module, model):
        in_memory = model(ids).logits
    # ...and the same module through PEFT, from the saved folder.
    with torch.no_grad():
        through_peft = PeftModel.from_pretrained(tiny_base().eval(), str(folder))(ids).logits
    gap = float((in_memory - through_peft).abs().max())
    print(f"largest logit difference, in memory vs PEFT: {gap:.2e}")
    assert gap < 1e-5, gap


if __name__ == "__main__":
    tour(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="langarith-tour-")))
