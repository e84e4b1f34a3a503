# Two commands: `make reproduce` (all notebooks headless on the CPU tiny profile) and `make test`.
# Both create .venv and install everything they need on a fresh machine; a second run skips that.
PROFILE ?= tiny
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQS := requirements/cpu.txt requirements/nodeps.txt pyproject.toml
STAMP := $(VENV)/.installed-$(shell cat $(REQS) | sha1sum | cut -c1-12)

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
export OMP_WAIT_POLICY := PASSIVE
export PYTHONWARNINGS := ignore::UserWarning:resampy.filters

.PHONY: install sysdeps test reproduce bench clean

install: sysdeps $(STAMP)

sysdeps:
	@bash scripts/install_system_deps.sh

$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[mmgen] installing pinned CPU requirements into $(VENV) (first time: ~2 min)"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/cpu.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/nodeps.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -c "import torch, faiss, diffusers, onnxruntime, mmgen_core, importlib.util as u; assert u.find_spec('basic_pitch') and u.find_spec('musicnn')"
	@rm -f $(VENV)/.installed-*
	@touch $@

test: install
	$(PY) -m pytest tests

reproduce: install
	$(VENV)/bin/mmgen notebooks --profile $(PROFILE)

bench: install
	$(PY) benchmarks/run_all.py --profile $(PROFILE)

clean:
	rm -rf artifacts results/smoke
