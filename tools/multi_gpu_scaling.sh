#!/usr/bin/env bash
# All GPUs of one node at once: the same sweep measured with --resources gpu=1 and gpu=N, from
# scratch run folders, so points per minute and results can be compared.
#
# Usage (repository root; N >= 2 NVIDIA GPUs, nvcc, ncu):  tools/multi_gpu_scaling.sh OUT_DIR [N]
# On a lent nvidia-h100-x2 / -x4 (the copy there has no network; .carry/ from
# ../shared/device/prepare-carry.sh brings Snakemake):
#   source .carry/activate.sh && tools/multi_gpu_scaling.sh "$OUT"
#
# Per run (gpu=1, then gpu=N): build + provenance (not timed; the N run reuses the 1-GPU binary),
# then, timed, every GPU job of every point (bench.json, Nsight Compute pages, the Nsight Systems
# timeline where profilers.nsys is enabled). `python -m pdprof.scaling` then prints points per
# minute for each, the ratio (target >= 0.9 N), which GPU ran what (the `gpu_slot` tags), and per
# point the N-GPU run's prefill/decode step_time (benchmark median) and ncu kernel durations
# against the 1-GPU run's, within noise = max(NOISE_PCT, the two runs' own repeat spread), after
# any per-card offset (a difference every point of one card shares).
# Writes OUT_DIR/scaling.md and scaling.json; exit 1 when a run failed or a result is off.
#
# Environment: SWEEP=scaling (default: the config's 7B base point over T x iters_fma, below) or a
# sweep of config/config.yaml; SCALING_T="1024 2048 4096 8192", SCALING_F="64 128 256 512";
# CORES (default nproc); NOISE_PCT (default 3); PYTHON (default python3).
set -uo pipefail
out=${1:?usage: tools/multi_gpu_scaling.sh OUT_DIR [N]}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
n=${2:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')}
cores=${CORES:-$(nproc)}
sweep=${SWEEP:-scaling}
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
[ "$n" -ge 1 ] 2>/dev/null || { echo "multi_gpu_scaling: no GPU found (nvidia-smi -L)" >&2; exit 2; }
mkdir -p "$out"
nvidia-smi -L >"$out/gpus.txt" 2>&1
nvidia-smi --query-gpu=index,uuid,name,driver_version,clocks.max.sm --format=csv >>"$out/gpus.txt" 2>&1

slug=$($py -m pdprof.cli backend --config "$repo/config/config.yaml" \
  | $py -c 'import json,sys; d=json.load(sys.stdin); print(d["gpu_slug"] if d["kind"] == "cuda" else "")')
[ -n "$slug" ] || { echo "multi_gpu_scaling: backend is not cuda here" >&2; exit 2; }
echo "multi_gpu_scaling: $n x $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), sweep $sweep, $cores cores -> $out"

prepare() { # WORKDIR: config/ with the sweep to run
  mkdir -p "$1"
  rm -rf "$1/config"
  cp -r "$repo/config" "$1/config"
  SWEEP_NAME=$sweep $py - "$1/config/config.yaml" <<'EOF'
import os, sys, yaml
path = sys.argv[1]
cfg = yaml.safe_load(open(path))
name = os.environ["SWEEP_NAME"]
if name == "scaling":
    cfg["sweeps"]["scaling"] = {
        "base": cfg["sweeps"]["default"]["base"],
        "groups": [{
            "name": "t_x_fma",
            "T": [int(t) for t in os.environ.get("SCALING_T", "1024 2048 4096 8192").split()],
            "iters_fma": [int(f) for f in os.environ.get("SCALING_F", "64 128 256 512").split()],
        }],
    }
cfg["sweep"] = name
open(path, "w").write(yaml.safe_dump(cfg, sort_keys=False))
EOF
}

smk() { # WORKDIR GPUS TARGETS...  (targets first: --resources and --config take every word after them)
  local w=$1 gpus=$2
  shift 2
  $py -m snakemake -s "$repo/Snakefile" --directory "$w" --cores "$cores" "$@" \
    --resources gpu="$gpus" --config backend=cuda
}

status=0
for m in 1 "$n"; do
  w="$out/gpu$m"
  prepare "$w"
  bin="results/$slug/bin/prefill_decode_bench"
  prov="results/$slug/provenance.json"
  if [ "$m" = 1 ]; then
    smk "$w" 1 "$bin" "$prov" >"$w/setup.log" 2>&1 || { echo "gpu=$m: build failed, see $w/setup.log" >&2; exit 1; }
  else # same binary and provenance as the 1-GPU run: only the measurement differs
    mkdir -p "$w/results/$slug/bin"
    cp -p "$out/gpu1/$bin" "$w/$bin"
    cp -p "$out/gpu1/$prov" "$w/$prov"
  fi
  mapfile -t points < <($py -m pdprof.cli points --config "$w/config/config.yaml")
  nsys=$($py -c 'import sys, yaml; print(int(yaml.safe_load(open(sys.argv[1]))["profilers"]["nsys"]["enabled"]))' \
    "$w/config/config.yaml" 2>/dev/null || echo 0)
  targets=()
  for p in "${points[@]}"; do # every GPU job of a point: benchmark, Nsight Compute, Nsight Systems
    targets+=("results/$slug/runs/$p/bench.json" "results/$slug/runs/$p/ncu_raw.csv")
    [ "$nsys" = 1 ] && targets+=("results/$slug/runs/$p/nsys")
  done
  echo "gpu=$m: ${#points[@]} points, ${#targets[@]} GPU jobs ..."
  start=$(date +%s.%N)
  smk "$w" "$m" "${targets[@]}" >"$w/measure.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  echo "{\"gpus\": $m, \"points\": ${#points[@]}, \"seconds\": $($py -c "print($end - $start)"), \"exit\": $rc}" >"$w/timing.json"
  [ "$rc" = 0 ] || { echo "gpu=$m: snakemake exit $rc, see $w/measure.log" >&2; status=1; }
done

$py -m pdprof.scaling "$out" "$slug" "$n" "${NOISE_PCT:-3}" || status=1
exit $status
