# Two commands on a fresh machine (see README): `make demo` (the main job) and `make test`.
# VENV can point elsewhere: `make test VENV=/tmp/venv`.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= runs/quickstart

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first (pip takes the local wheel), so no resolver ever pulls a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

.PHONY: install test lint demo quickstart bench check-wheel

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# The main job: train, compose, tune λ and evaluate on SIB-200 with the offline Gemma 3 270M (≈15 min on
# 2 CPU cores); the table is printed and the report written to runs/demo.
demo: $(VENV)/.installed
	$(VENV)/bin/langarith demo --out runs/demo

# The compose quick start (seconds): makes three tiny PEFT LoRA modules, composes Add and Add & Subtract
# from them, and inspects the result.
quickstart: $(VENV)/.installed
	rm -rf $(OUT)
	$(PY) examples/make_modules.py $(OUT)/modules
	$(VENV)/bin/langarith related pt --pool ar,bn,en,ja,ko,id,sw,ru,te,th,tr
	$(VENV)/bin/langarith compose "0.7*task_en + 0.3*(lang_pt - lang_en)" \
	    --module task_en=$(OUT)/modules/task_en --module lang_pt=$(OUT)/modules/lang_pt \
	    --module lang_en=$(OUT)/modules/lang_en --out $(OUT)/task_pt_add_subtract
	$(VENV)/bin/langarith compose --recipe add --task-module en=$(OUT)/modules/task_en \
	    --lang-module pt=$(OUT)/modules/lang_pt --lambda 0.7 --out $(OUT)/task_pt_add
	$(VENV)/bin/langarith compose "0.7*task_en + 0.3*(lang_pt - lang_en)" --semantics delta --rank 4 \
	    --module task_en=$(OUT)/modules/task_en --module lang_pt=$(OUT)/modules/lang_pt \
	    --module lang_en=$(OUT)/modules/lang_en --out $(OUT)/task_pt_delta_r4
	$(VENV)/bin/langarith inspect $(OUT)/task_pt_add_subtract

# The package as a user installs it: wheel and sdist built, installed into a fresh venv, run (a few minutes).
check-wheel: $(VENV)/.installed
	BUILDER=$(PY) bash scripts/check-wheel.sh

bench: $(VENV)/.installed
	$(PY) benchmarks/compose.py
	$(PY) benchmarks/typology_speed.py
	$(PY) benchmarks/pack_memory.py
