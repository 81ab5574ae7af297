"""Every shipped config at its smoke budget (tiny random model), one JSON line each with the sha256 of the
`results.csv` it wrote: run it before and after a change to the experiments wing and compare the two files.

    python scripts/smoke_tables.py --out before.jsonl
    python scripts/smoke_tables.py --out after.jsonl --against before.jsonl   # exit 1 on any difference

A config whose data this machine lacks is reported as skipped with the reason, never as passed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def smoke(config: Path, work: Path) -> dict:
    from langarith.core.errors import LangarithError
    from langarith.experiments import load_config, run

    started = time.time()
    try:
        cfg = load_config(config, "smoke")
        run(cfg, work / config.stem, progress=False)
    except LangarithError as err:  # its data is not on this machine
        return {"config": config.stem, "skipped": str(err).splitlines()[0]}
    csv = (work / config.stem / "results.csv").read_bytes()
    return {"config": config.stem, "sha256": hashlib.sha256(csv).hexdigest(), "lines": csv.count(b"\n"),
            "seconds": round(time.time() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON lines here too")
    parser.add_argument("--against", type=Path, help="an earlier run's lines: exit 1 where a results.csv differs")
    parser.add_argument("configs", nargs="*", type=Path, help="default: every configs/*.yaml")
    args = parser.parse_args()
    configs = args.configs or sorted((ROOT / "configs").glob("*.yaml"))
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("LANGARITH_CACHE", str(Path(tmp) / "cache"))  # the tiny models, built once
        for config in configs:
            line = smoke(config, Path(tmp))
            print(json.dumps(line), flush=True)
            lines.append(line)
    if args.out:
        args.out.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    if not args.against:
        return 0
    before = {line["config"]: line for line in map(json.loads, args.against.read_text().splitlines())}
    differ = [line["config"] for line in lines
              if line.get("sha256") != before.get(line["config"], {}).get("sha256")]
    same = len(lines) - len(differ)
    print(json.dumps({"configs": len(lines), "identical": same, "differ": differ}))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
