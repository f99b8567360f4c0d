#!/usr/bin/env bash
# One-call validation run of rightsize on an NVIDIA GPU machine that has no network.
#
#   scripts/gpu-check.sh OUTDIR         run the check; results/, site/ and logs go to OUTDIR
#   scripts/gpu-check.sh --fetch-wheels on a machine with network: put the wheels that a
#                                       GPU image usually lacks (gguf, plotly) in wheels/ (ignored by git)
#
# The machine's python3 (or $PYTHON) must already have torch, transformers, nvidia-ml-py, click,
# psutil, rich and numpy. The suite is installed from this working tree into a temporary
# directory (nothing is written into that python's environment), then:
#   bench hardware; what `bench engines install llamacpp` would build here (--dry-run: CUDA where
#   nvcc and the GPU are both here; nothing is built); bench run --backend torch on a synthetic
#   Llama-3.1-8B in bf16 on CUDA: tg128, single-stream and a closed-loop concurrency sweep 1..32
#   of a short chat workload, NVML energy by counter; bench dashboard; bench check (physics:
#   decode under the bandwidth ceiling, watts between idle and the power limit, memory against
#   torch's own figure).
# Without a CUDA device torch can use, it says so and runs the same steps on the CPU with the
# tiny model and levels 1,2,4, so the script itself is exercised anywhere.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
wheels="$repo/wheels"
FETCHED=("gguf==0.19.0" "plotly==7.1.0")   # pure-Python wheels, any platform

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    "$python" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" "${FETCHED[@]}"
    ls -l "$wheels"
    exit 0
fi
if [[ $# -ne 1 || "$1" == -* ]]; then
    echo "usage: $0 OUTDIR  |  $0 --fetch-wheels" >&2
    exit 2
fi
out=$(mkdir -p "$1" && cd "$1" && pwd)
start=$SECONDS
step() { echo; echo "== [$((SECONDS - start)) s] $*"; }

step "install rightsize from $repo (no network)"
site=$(mktemp -d)/site
shopt -s nullglob
local_wheels=("$wheels"/*.whl)
# --no-build-isolation: build with the setuptools already here instead of fetching one.
"$python" -m pip install -q --no-index --no-deps --no-build-isolation --target "$site" "$repo" "${local_wheels[@]}"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
"$python" - <<'EOF'
import importlib.util, sys
need = ["torch", "transformers", "click", "rich", "numpy", "psutil", "pynvml", "gguf", "plotly"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"error: missing Python packages: {', '.join(missing)} (run scripts/gpu-check.sh "
             "--fetch-wheels on a machine with network and copy wheels/ here)")
EOF
bench="$site/bin/bench"

step "bench hardware"
"$bench" hardware | tee "$out/hardware.txt"
"$bench" hardware --json >"$out/hardware.json"

step "bench engines install llamacpp --dry-run (what the README's first command would build here)"
"$bench" engines install llamacpp --dry-run 2>&1 | tee "$out/llamacpp-install.txt" || true

if "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    model=llama-3.1-8b levels=1,2,4,8,16,32
    echo "CUDA: $("$python" -c 'import torch; print(torch.cuda.get_device_name())')"
else
    model=tiny levels=1,2,4
    echo "note: torch sees no CUDA device here: falling back to the CPU with the tiny model and" \
         "concurrency $levels; this is a dry run of the script, not the GPU check" | tee "$out/FALLBACK.txt" >&2
fi

# A short chat turn keeps each of the six levels to a few seconds of decoding on an H100.
workload="$out/gpu-check-workload.json"
echo '{"short-chat": {"input": {"mean": 256, "stddev": 64}, "output": {"mean": 64, "stddev": 16},
       "description": "short chat turn (gpu-check)"}}' >"$workload"

step "bench run: torch, $model bf16, tg128 + single-stream + concurrency $levels"
run_rc=0
"$bench" run --backend torch --model "$model" --quant bf16 --scenario tg128,single-stream,short-chat \
    --workloads "$workload" --concurrency "$levels" --results-dir "$out/results" 2>&1 | tee "$out/run.log" \
    || run_rc=$?

step "bench dashboard"
"$bench" dashboard "$out/results" -o "$out/site" 2>&1 | tee "$out/dashboard.log" || run_rc=$((run_rc ? run_rc : 1))

step "bench check (physics)"
check_rc=0
"$bench" check "$out/results" | tee "$out/check.txt" || check_rc=$?

step "done in $((SECONDS - start)) s: run exit $run_rc, physics exit $check_rc; outputs in $out"
exit $((run_rc ? run_rc : check_rc))
