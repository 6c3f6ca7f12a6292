# SeCo pipeline: one entry point per job. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
EXTRAS ?= collect,train,dev

# Package indexes and caps that exist only on some machines (e.g. an offline wheel mirror);
# on a user's machine none of them exist and uv uses PyPI alone.
UV_LOCAL := $(foreach d,/opt/pypi/simple /opt/pypi-more/simple,$(if $(wildcard $(d)),--extra-index-url file://$(d))) \
            $(if $(wildcard /opt/wheels),--find-links /opt/wheels) \
            $(if $(wildcard /etc/xdg/pip/constraints.txt),--constraint /etc/xdg/pip/constraints.txt)

REGION ?= europe
N ?= 1000
SEED ?= 0
OUT ?= datasets/plan-$(REGION)-$(N)

.PHONY: help install lint test plan bench bench-plan clean-venv

help:
	@echo "make install   create $(VENV) and install the project with extras [$(EXTRAS)]"
	@echo "make test      install if needed, then lint and run the whole test suite"
	@echo "make lint      ruff and mypy over the code and tests"
	@echo "make plan      REGION=europe N=1000 [SEED=0 OUT=dir]: plan.parquet + map.png, no download"
	@echo "make bench     measure and record in docs/benchmarks.md"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check "uv>=0.5"
	$(BIN)/uv pip install --python $(PY) --index-strategy unsafe-best-match --compile-bytecode \
	    $(UV_LOCAL) -e ".[$(EXTRAS)]"
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check collector trainer shared tests
	$(BIN)/ruff format --check collector trainer shared tests
	$(BIN)/mypy

test: lint
	$(PY) -m pytest -q

plan: $(STAMP)
	$(PY) -m collector plan --region="$(REGION)" --n $(N) --seed $(SEED) --out "$(OUT)"

bench-plan: $(STAMP)
	$(PY) -m collector bench plan --n 666667

bench: bench-plan

clean-venv:
	rm -rf $(VENV)
