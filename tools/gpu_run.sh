#!/usr/bin/env bash
# Full run on a GPU machine: the default sweep from source build to report with the
# cuda backend and ncu, the GPU tests, and a fresh capture bundle for replay.
# Usage (from the repository root):  tools/gpu_run.sh OUT_DIR [CORES]
# On the lent device (the copy there has no .git, so pass the revision):
#   source .carry/activate.sh && PDPROF_GIT_REV=<commit> tools/gpu_run.sh "$OUT" 4
set -uo pipefail
out=${1:?usage: tools/gpu_run.sh OUT_DIR [CORES]}
cores=${2:-4}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

nvidia-smi >"$out/nvidia-smi.txt" 2>&1
slug=$(python3 -m pdprof.cli backend --config config/config.yaml | python3 -c 'import json,sys; print(json.load(sys.stdin)["gpu_slug"])')
cmd=(python3 -m snakemake --cores "$cores" --config backend=cuda)
echo "+ ${cmd[*]}"
start=$(date +%s.%N)
"${cmd[@]}" 2>&1 | tee "$out/snakemake.log"
status=${PIPESTATUS[0]}
end=$(date +%s.%N)
python3 -c "print(f'pipeline wall time: {$end - $start:.1f} s (exit {$status})')" | tee "$out/wall_time.txt"

python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/pytest_gpu.log"

if [ "$status" -eq 0 ]; then
  rm -rf "captures/$slug"
  python3 -m pdprof.cli capture "results/$slug" "captures/$slug" --command "${cmd[*]}  (tools/gpu_run.sh)"
fi
tar czf "$out/gpu_run.tgz" captures results/"$slug"/report results/"$slug"/logs results/dataset 2>/dev/null
cat "results/$slug/report/report.md" 2>/dev/null | head -40
