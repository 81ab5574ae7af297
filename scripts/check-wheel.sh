#!/usr/bin/env bash
# The package as a user installs it. `python -m build` makes an sdist and, from it, a wheel; the wheel installs
# into a fresh virtual environment (the CPU build of torch first, as `make install` does, so that no resolver
# pulls a CUDA build) and, run from outside the checkout, gives its version, the quick-start compose on tiny
# modules and `langarith demo --help`; the sdist then installs over it and gives its version too.
# Usage: scripts/check-wheel.sh [PYTHON]   (default: python3; the build runs with .venv's python, which has `build`)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-python3}
builder=${BUILDER:-$repo/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$builder" -m build --outdir "$work/dist" "$repo" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/langarith-*.whl)
sdist=$(ls "$work"/dist/langarith-*.tar.gz)
echo "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) kB) and $(basename "$sdist") ($(du -k "$sdist" | cut -f1) kB)"
tar -tzf "$sdist" > "$work/sdist.txt"
grep -q "/LICENSE$" "$work/sdist.txt" || { echo "the sdist has no LICENSE"; exit 1; }
"$builder" -m zipfile -l "$wheel" > "$work/wheel.txt"
grep -q "licenses/LICENSE" "$work/wheel.txt" || { echo "the wheel has no LICENSE"; exit 1; }

"$python" -m venv "$work/venv"
pip="$work/venv/bin/pip"
"$pip" install --quiet --upgrade pip
"$pip" install --quiet torch==2.13.0
"$pip" install --quiet "$wheel"
bin="$work/venv/bin"
cd "$work"  # away from the checkout: what runs is the installed package
"$bin/langarith" --version
"$bin/python" - <<'PY'
import langarith.data as data
assert data.checkout_data() is None, "an installed package has no checkout beside it"
PY
"$bin/python" "$repo/examples/make_modules.py" "$work/modules" > /dev/null
"$bin/langarith" compose "0.7*task_en + 0.3*(lang_pt - lang_en)" --module task_en="$work/modules/task_en" \
    --module lang_pt="$work/modules/lang_pt" --module lang_en="$work/modules/lang_en" --out "$work/task_pt"
"$bin/langarith" inspect "$work/task_pt" > /dev/null
"$bin/langarith" demo --help > /dev/null
"$bin/langarith" data list
"$pip" install --quiet --force-reinstall --no-deps "$sdist"
"$bin/langarith" --version > "$work/version.txt" && head -1 "$work/version.txt"
if git -C "$repo" rev-parse --verify -q HEAD > /dev/null; then  # the README's `pip install "langarith @ git+…"`
  "$pip" install --quiet --force-reinstall --no-deps "langarith @ git+file://$repo"
  "$bin/langarith" --version > "$work/version.txt" && head -1 "$work/version.txt"
fi
echo "wheel, sdist and git install and run"
