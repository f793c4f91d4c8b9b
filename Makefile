# hrvcast: every target a newcomer needs. `make run` and `make test` are the two commands in the README.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HRVCAST := $(VENV)/bin/hrvcast
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= $(if $(HRVCAST_DATA_DIR),$(HRVCAST_DATA_DIR),../shared/data)
export PYTHONUNBUFFERED := 1

.PHONY: install servers js run test lint bench train coreml dashboards clean

install: $(STAMP)  ## create .venv and install hrvcast editable with dev extras (a repeat is a no-op)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install  ## demo data + default model if missing, then gunicorn on $(HOST):$(PORT)
	$(HRVCAST) bootstrap --host $(HOST) --port $(PORT)
	$(HRVCAST) serve --host $(HOST) --port $(PORT)

# What the tests run for real: binary -> Debian package (curl runs the line `hrvcast bootstrap` prints)
TEST_TOOLS := influxd:influxdb redis-server:redis-server curl:curl

servers:  ## install influxd, redis-server and curl for the tests (apt-get, as root), or stop with the command that does
	@missing=""; for tool in $(TEST_TOOLS); do command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool#*:}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$HRVCAST_TEST_NO_SERVERS" = 1 ]; then echo "HRVCAST_TEST_NO_SERVERS=1: not installing$$missing"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "make test: installing$$missing (Debian packages)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "make test needs$$missing: install with  sudo apt-get install -y$$missing" >&2; \
	  echo "(or skip the tests that need a server: HRVCAST_TEST_NO_SERVERS=1 make test)" >&2; \
	  exit 1; \
	fi

# Grafana's frontend libraries for tests/grafana_js, exactly as package-lock.json pins them (npm ci reinstalls only
# when the lock file changed); without npm the conformance test skips with its reason (fails under CI=true).
js: $(if $(shell command -v npm),node_modules/.package-lock.json)  ## npm ci for the Grafana conformance suite

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

test: install servers js  ## the whole test suite (starts real influxd and redis-server on loopback)
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check server model tests bench
	$(VENV)/bin/ruff format --check server model tests bench

bench: install  ## speed and memory figures, each beside its peer measured in the same run
	@set -e; for b in bench/*.py; do echo "== $$b"; $(PY) $$b; done

train: install  ## reproduce the shipped checkpoints (hourly default, daily) from ../shared/data (model/training/recipes.py)
	$(HRVCAST) train --data-dir $(DATA_DIR) --out model/checkpoints/burnout-default.pt
	$(HRVCAST) train --window 1d --data-dir $(DATA_DIR) --out model/checkpoints/burnout-daily.pt

coreml: install  ## export the default checkpoint to dist/BurnoutPredictor.mlpackage
	$(HRVCAST) export-coreml

dashboards: install  ## regenerate dashboards/*.json from Python
	$(HRVCAST) dashboards --out dashboards

clean:  ## remove build outputs, caches and local data (keeps .venv)
	rm -rf dist build var .pytest_cache .ruff_cache .benchmarks *.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
