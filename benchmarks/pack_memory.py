"""Peak memory and time of packing a corpus that is one huge line (a dump without newlines) into training
sequences: ours (`langarith.training.data.pack`, documents tokenized in bounded pieces) against the plain
reference (`tokenizer(texts)` on whole documents, then one token list), each in a fresh process on the same
text and tokenizer. Prints one JSON line. Target: peak memory above the process's baseline ≤ 0.25× the
reference's.

    python benchmarks/pack_memory.py [--chars 24000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

TARGET_RATIO = 0.25

CHILD = """
import resource, sys, time
import numpy as np
from langarith.models import tiny_tokenizer
from langarith.training.data import pack
tok = tiny_tokenizer(sys.argv[2])
words = ["palavra", "casa", "rio", "amanhã", "língua", "caminho"]
line = " ".join(words[i % 6] for i in range(int(sys.argv[3]) // 7))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if sys.argv[1] == "ours":
    rows = pack([line], tok, 128)
else:
    stream = [t for doc in tok([line], add_special_tokens=False)["input_ids"] for t in [*doc, tok.eos_token_id]]
    n = len(stream) // 128
    rows = np.asarray(stream[: n * 128], dtype=np.int64).reshape(n, 128)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(line), rows.size, round(seconds, 2), (peak - base) // 1024)
"""


def run(which: str, tok_dir: str, chars: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, which, tok_dir, str(chars)], capture_output=True, text=True,
                         check=True).stdout.split()
    return {"chars": int(out[0]), "tokens": int(out[1]), "s": float(out[2]), "peak_above_base_mb": int(out[3])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=24_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tok_dir:
        ours, reference = run("ours", tok_dir, args.chars), run("reference", tok_dir, args.chars)
    print(json.dumps({
        "benchmark": "pack_memory", "chars": ours["chars"], "ours": ours, "reference": reference,
        "ratio_peak_memory": round(ours["peak_above_base_mb"] / max(1, reference["peak_above_base_mb"]), 3),
        "ratio_time": round(ours["s"] / reference["s"], 3), "target_ratio_peak_memory": TARGET_RATIO,
    }))


if __name__ == "__main__":
    main()
