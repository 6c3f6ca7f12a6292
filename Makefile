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
SOURCE ?= earthengine
BANDS ?= l1c
SIZE ?= 264
SEASONS ?= 4
SCHEDULER ?=
WORKERS ?=
OUT ?= datasets/$(SOURCE)-$(REGION)-$(N).zarr
COLLECT_ARGS = --region="$(REGION)" --n $(N) --seed $(SEED) --source $(SOURCE) --bands $(BANDS) \
	--size $(SIZE) --seasons $(SEASONS) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
	$(if $(WORKERS),--workers $(WORKERS)) $(if $(DRY_RUN),--dry-run)

.PHONY: help install lint test plan collect demo demo-collect bench bench-plan clean-venv

help:
	@echo "make install   create $(VENV) and install the project with extras [$(EXTRAS)]"
	@echo "make test      install if needed, then lint and run the whole test suite"
	@echo "make lint      ruff and mypy over the code and tests"
	@echo "make demo      offline end to end on the synthetic world (datasets/demo.zarr, …)"
	@echo "make plan      REGION=europe N=1000 [SEED=0 OUT=dir]: plan.parquet + map.png, no download"
	@echo "make collect   REGION=… N=… [SOURCE=earthengine|stac|synthetic BANDS=l1c|l2a OUT=… SCHEDULER=… WORKERS=…]"
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

collect: $(STAMP)
	$(PY) -m collector collect $(COLLECT_ARGS) --out "$(OUT)"

# The demo runs offline on the synthetic world; every output says SYNTHETIC.
demo-collect: $(STAMP)
	$(PY) -m collector collect --region=-11,34,45,62 --n 256 --seed 0 --spares 2 --source synthetic \
	    --out datasets/demo.zarr
	$(PY) -m shared info datasets/demo.zarr

demo: demo-collect

bench-plan: $(STAMP)
	$(PY) -m collector bench plan --n 666667

bench: bench-plan

clean-venv:
	rm -rf $(VENV)
