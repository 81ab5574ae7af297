#!/usr/bin/env bash
# The air-gapped GPU workflow end to end on this CPU with the tiny models (docs/air-gapped.md):
# a fresh "node" venv holding only torch; `langarith bundle` of the smoke configs for it; the parts moved into an
# empty folder one transfer at a time; run.sh with the network cut off (a network namespace of its own) and a
# deadline; the packed results unpacked here and compared with a normal smoke run of the same configs.
#   scripts/rehearse-offline.sh [WORK_DIR]        (≈ 5 min; needs PyPI for the wheels, then no network at all)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${1:-/tmp/langarith-rehearsal}")
CONFIGS=(configs/sib200-one-language.yaml configs/madx-zero-shot.yaml)
LA=.venv/bin/langarith
rm -rf "$WORK" && mkdir -p "$WORK"
t() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(t) - $1" | bc)"; }

start=$(t)
python3 -m venv "$WORK/node-venv"
"$WORK/node-venv/bin/pip" install --quiet torch==2.13.0 2>&1 | grep -v "is ignored" || true
"$WORK/node-venv/bin/pip" list --format=freeze > "$WORK/node-packages.txt"
NODE_PY=$("$WORK/node-venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
echo "node venv (torch only, Python $NODE_PY): $(since "$start") s"

start=$(t)
$LA bundle "${CONFIGS[@]}" --budget smoke --out "$WORK/bundle" --node-packages "$WORK/node-packages.txt" \
    --python-version "$NODE_PY" --chunk-mib 40 | tee "$WORK/bundle.txt"
echo "bundle: $(since "$start") s"

OFFLINE=(unshare --net)  # no network inside: pip, the hub and everything else see none
"${OFFLINE[@]}" python3 -c 'import socket; socket.create_connection(("pypi.org", 443), 3)' 2>/dev/null \
    && { echo "the network is still reachable inside unshare --net"; exit 1; }
mkdir -p "$WORK/node/bundle"
parts=$(python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(open(sys.argv[1]))["parts"]))' \
    "$WORK/bundle/manifest.json")
export PYTHON="$WORK/node-venv/bin/python" LANGARITH_STAGE="$WORK/stage"
unset LANGARITH_DATA LANGARITH_CACHE
for part in $parts; do
    start=$(t)
    cp "$WORK/bundle/run.sh" "$WORK/bundle/node.py" "$WORK/bundle/manifest.json" "$WORK/bundle/$part" "$WORK/node/bundle/"
    (cd "$WORK/node" && "${OFFLINE[@]}" bash bundle/run.sh stage)
    echo "transfer of $part and stage: $(since "$start") s"
done
start=$(t)
(cd "$WORK/node" && "${OFFLINE[@]}" bash bundle/run.sh run --deadline 900 --out "$WORK/out") | tee "$WORK/node-run.txt"
echo "run.sh run: $(since "$start") s"
ls -l "$WORK/out"

$LA unpack "$WORK/out" --into "$WORK/back"
status=0
for config in "${CONFIGS[@]}"; do
    name=$(basename "$config" .yaml)-smoke
    LANGARITH_CACHE="$WORK/here-cache" $LA experiment "$config" --budget smoke --out "$WORK/here/$name" --quiet > /dev/null
    if diff -q "$WORK/here/$name/results.csv" "$WORK/back/$name/results.csv" > /dev/null; then
        echo "$name: results.csv identical to the run on this machine"
    else
        echo "$name: results.csv DIFFERS from the run on this machine"; status=1
    fi
done
exit $status
