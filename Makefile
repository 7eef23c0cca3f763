# Two commands do everything on a fresh machine: `make repro` and `make test`.
PYTHON ?= python3
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands say `python`: the project's interpreter must come first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: install repro cost calibrate test test-extended check-platform check-cross-cpu smoke demo ui bench clean

install: $(STAMP)

# Reinstalls only when the dependencies change; a second `make install` is instant.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned packages into $(VENV) (a few minutes on a fresh machine; pip's progress follows)"
	$(BIN)/python -m pip install --progress-bar off --disable-pip-version-check -e '.[test,cluster]' 2>&1 \
		| grep -v "is ignored: it is neither a file nor a directory" || true
	$(BIN)/python -c "import attnbench, torch, pytorch_lightning, mlflow, dvc, pytest, rapidfuzz, distributed, psycopg; from attnbench.data import g2p; g2p.read_lexicon()"
	touch $(STAMP)

# The accuracy study (byte-for-byte reproducible), then the machine-dependent cost curves.
# The study's standard output and wall time go to $(REPRO_LOG) too: `make bench` reads
# which stages ran and how long they took, to print the share of start-up (imports).
# Standard error stays on the terminal, where each stage's progress bar draws (progress.py).
REPRO_LOG := .dvc/tmp/attnbench-repro.log
repro: install
	@mkdir -p $(dir $(REPRO_LOG)); start=$$(date +%s); \
	set -o pipefail; $(BIN)/dvc repro | tee $(REPRO_LOG) && \
	echo "study wall seconds $$(( $$(date +%s) - start ))" | tee -a $(REPRO_LOG)
	$(BIN)/dvc repro pipelines/cost/dvc.yaml

cost: install
	$(BIN)/dvc repro pipelines/cost/dvc.yaml

# Each architecture family's learning-rate schedule, picked on validation data (~10 min;
# DVC prepares the study's data first if needed). Its choice must be train.schedules in params.yaml.
calibrate: install
	$(BIN)/dvc repro pipelines/calibration/dvc.yaml

# Every test but the `extended` ones (10-minute budget on a quiet 2-core machine).
test: install
	$(BIN)/python -m pytest -m "not extended"

# The extended checks: the study on a Dask cluster against a PostgreSQL-backed MLflow server
# (tests/test_cluster.py) and the canary's planted fault under an emulated Intel CPU. .ci/run
# installs their Debian packages (postgresql, qemu-user) and runs them after make test.
test-extended: install
	$(BIN)/python -m pytest -m extended

# Can this machine reproduce the committed study byte for byte? (the platform canary, ~40 s)
check-platform: install
	$(BIN)/python -m pytest tests/test_platform.py

# The whole canary under an emulated Intel Haswell (qemu-user; another vendor's and ISA's
# dispatch): 5 to 11 minutes on one core. .ci/run runs a subset of it.
check-cross-cpu: install
	tools/emulated-canary.sh Haswell

smoke: install
	$(BIN)/python -m attnbench.execution.workspace --profile profiles/smoke.yaml

# Runs to browse minutes after cloning: the smoke study, recorded into this checkout's own
# MLflow store under the experiment attnbench-smoke (the study's own stays apart). Then: make ui
demo: install
	$(BIN)/python -m attnbench.execution.workspace --profile profiles/smoke.yaml --record-here

bench: install
	$(BIN)/python -m attnbench.bench

# MLflow's UI over this checkout's store; prints each experiment's runs-table address
# MLflow's UI over ./mlflow.db on http://127.0.0.1:$(PORT) (make ui PORT=5001 for another port)
PORT ?= 5000
ui: install
	$(BIN)/python -m attnbench.tracking.browse --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache dvc_plots
