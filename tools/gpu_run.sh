#!/usr/bin/env bash
# Full run on a GPU machine: a sweep from source build to report with the cuda backend,
# ncu and nsys, the GPU tests, a fresh capture bundle for replay and, for the kernels
# sweep, the kernel benchmark table (benchmarks/kernels.py).
# Usage (from the repository root):  tools/gpu_run.sh OUT_DIR [CORES] [SWEEP]
# The default sweep is captured into captures/<gpu>, any other into captures/<gpu>-<sweep>.
# On the lent device (the copy there has no .git, so pass the revision):
#   source .carry/activate.sh && PDPROF_GIT_REV=<commit> tools/gpu_run.sh "$OUT" 4 kernels
set -uo pipefail
out=${1:?usage: tools/gpu_run.sh OUT_DIR [CORES] [SWEEP]}
cores=${2:-4}
sweep=${3:-default}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

nvidia-smi >"$out/nvidia-smi.txt" 2>&1
slug=$(python3 -m pdprof.cli backend --config config/config.yaml | python3 -c 'import json,sys; print(json.load(sys.stdin)["gpu_slug"])')
bundle="captures/$slug"
[ "$sweep" = default ] || bundle="captures/$slug-$sweep"
cmd=(python3 -m snakemake --cores "$cores" --config backend=cuda "sweep=$sweep")
echo "+ ${cmd[*]}"
start=$(date +%s.%N)
"${cmd[@]}" 2>&1 | tee "$out/snakemake.log"
status=${PIPESTATUS[0]}
end=$(date +%s.%N)
python3 -c "print(f'pipeline wall time: {$end - $start:.1f} s (exit {$status})')" | tee "$out/wall_time.txt"

if [ "$status" -eq 0 ]; then
  rm -rf "$bundle"
  python3 -m pdprof.cli capture "results/$slug" "$bundle" --sweep "$sweep" --command "${cmd[*]}  (tools/gpu_run.sh)"
fi
if [ "$sweep" = kernels ]; then
  python3 benchmarks/kernels.py --out "$out/kernels" --nsys 2>&1 | tee "$out/kernels.log" | tail -25
  rm -f "$out/kernels/prefill_decode_bench" "$out"/kernels/nsys/*/nsys.nsys-rep "$out"/kernels/nsys/*/nsys.sqlite
fi
python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/pytest_gpu.log" | tail -5

tar czf "$out/gpu_run.tgz" "$bundle" results/"$slug"/report results/"$slug"/logs results/dataset \
  "$out"/kernels "$out"/*.log "$out"/*.txt 2>/dev/null
cat "results/$slug/report/report.md" 2>/dev/null | head -40
