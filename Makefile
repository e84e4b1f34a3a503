# Two commands: `make reproduce` (all notebooks headless on the CPU tiny profile) and `make test`.
# Both create .venv and install everything they need on a fresh machine; a second run skips that.
PROFILE ?= tiny
RUN ?=
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQS := requirements/cpu.txt requirements/nodeps.txt pyproject.toml
STAMP := $(VENV)/.installed-$(shell cat $(REQS) | sha1sum | cut -c1-12)

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
export PYTHONWARNINGS := ignore::UserWarning:resampy.filters
# RUN=name keeps a run's results apart, in results/<profile>/<name>/ (artifacts are shared by config)
RUN_DIR := $(if $(RUN),$(RUN)/,)

.PHONY: install sysdeps test test-gpu reproduce evidence bench quality clean

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

# GPU CI (.ci/gpu): the tests, every notebook (smoke) and one paper-size step per model on CUDA. The same pins
# install torch's CUDA build where the index is PyPI; without an NVIDIA GPU this prints why and succeeds.
test-gpu:
	@if ! nvidia-smi -L >/dev/null 2>&1; then echo "[mmgen] test-gpu skipped: no NVIDIA GPU here (nvidia-smi finds none)"; exit 0; fi; \
	$(MAKE) install && \
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch in $(VENV) is a CPU build: install a CUDA build of the pinned torch (pip install --force-reinstall torch==<pin> --index-url https://download.pytorch.org/whl/cu128) and rerun')" && \
	$(PY) -m pytest tests && \
	$(PY) benchmarks/gpu_check.py --profile paper

# Every notebook into results/<profile>/ (cleared first: one run of one commit), ending with its summary README.md.
reproduce: install
	$(VENV)/bin/mmgen notebooks --profile $(PROFILE) $(if $(RUN),--run $(RUN))

# The seeded run behind results/tiny's claims: notebook 08 again with 4 UNet training seeds per system (trains the 3
# extra seeds of each mode, two at a time), one sampling seed of each (the spread between runs and over clips is the
# larger one: docs/method.md, the evaluation harness), the oracle-melody systems, and the alignment claim 5-fold over
# all clips at 5 aligner seeds per model (50 aligners of ~10 s); then notebook 09 with the melody counterfactual on
# 4 UNet training runs of each mode under both caption sets (the sound set's dataset, aligner and 12 UNets built on
# first use) and the generation claim under sound captions; ρ(ISR, quality) on 4 UNet training runs, and per caption
# over 3 noise seeds; the small-data experiment at fractions 1/8 to 1 with 6 training seeds per point (reusing the
# whole-data UNets; 18 more UNets). Run after `make reproduce`, whose artifacts it reuses. Its outputs go to their own
# folder, results/<profile>/evidence/ (with their own provenance and summary), apart from make reproduce's.
EVIDENCE_RESULTS ?= --set results.unet_seeds=[0,1,2,3] --set results.seeds=[0] --set results.aligner_seeds=[0,1,2,3,4] \
	--set results.aligner_folds=5 --set results.oracle=true
EVIDENCE_CLAIMS ?= --set claims.isr_seeds=[0,1,2,3] --set claims.isr_caption_seeds=[0,1,2] --set claims.small_data=true \
	--set claims.fractions=[0.125,0.25,0.5,1] --set claims.fraction_seeds=[0,1,2,3,4,5] --set claims.melody_seeds=[0,1,2,3] \
	--set claims.caption_sets=[detailed,sound]
evidence: install
	$(VENV)/bin/mmgen notebooks --profile $(PROFILE) --only 08,09 --fresh --set output.folder=$(RUN_DIR)evidence $(EVIDENCE_RESULTS) \
		$(EVIDENCE_CLAIMS)

bench: install
	$(PY) benchmarks/run_all.py --profile $(PROFILE) --set output.folder=$(RUN_DIR)bench

# Where generation quality goes (validation clips): references, training recipes along training, generation settings.
# e.g. make quality QUALITY_ARGS="--parts training --recipes eps,v-minsnr --checkpoints 400,800,1600"
quality: install
	$(PY) scripts/quality_study.py --profile $(PROFILE) --set output.folder=$(RUN_DIR)quality $(QUALITY_ARGS)

clean:
	rm -rf artifacts results/smoke
