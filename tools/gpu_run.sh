#!/usr/bin/env bash
# One GPU machine, one call: a sweep from source build to report with the cuda backend, ncu and
# nsys; a capture bundle of that sweep's points, with the run's own record in its session/
# folder; for the kernels sweep, the kernel table (benchmarks/kernels.py); the GPU tests.
# Usage (from the repository root):  tools/gpu_run.sh OUT_DIR [CORES] [SWEEP]
# The default sweep is captured into captures/<gpu>, any other into captures/<gpu>-<sweep>.
# OUT_DIR receives the bundle, report and logs as gpu_run.tgz.part-* (pieces of 15 MiB: the
# device tool returns files of at most 16 MiB); unpack with  cat gpu_run.tgz.part-* | tar xzf -
# On the lent device (the copy there has no .git, so pass the revision):
#   source .carry/activate.sh && PDPROF_GIT_REV=<commit> tools/gpu_run.sh "$OUT" 16 decode_attention
# The committed captures (about 370 MiB) exceed the 64 MiB a device call sends: move captures/
# out of the checkout for the call and back afterwards; the new bundle lands in an empty captures/.
# PDPROF_PIPELINE_TIMEOUT (seconds, default 360) bounds the pipeline, so a hang still leaves the
# logs inside the device's 10-minute call. On the H200 the sweeps took 165-276 s, the kernel
# table about 200 s and the GPU tests about 120 s: the kernels sweep comes close to that limit.
# On the H100 the two attention sweeps took 186 and 142 s, the GPU tests 77-104 s.
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
echo "+ ${cmd[*]}" | tee "$out/snakemake.log"
start=$(date +%s.%N)
timeout "${PDPROF_PIPELINE_TIMEOUT:-360}" "${cmd[@]}" >>"$out/snakemake.log" 2>&1
status=$?
end=$(date +%s.%N)
python3 -c "print(f'pipeline wall time: {$end - $start:.1f} s (exit {$status})')" | tee "$out/wall_time.txt"
tail -5 "$out/snakemake.log"

if [ "$status" -eq 0 ]; then
  # This copy's bundle of the same name is the committed one: the new capture replaces it whole
  # (in git: git rm -r the old one, then add the fetched one; tools/submission_size.py counts both).
  rm -rf "$bundle"
  python3 -m pdprof.cli capture "results/$slug" "$bundle" --sweep "$sweep" --config config/config.yaml \
    --command "${cmd[*]}  (tools/gpu_run.sh at ${PDPROF_GIT_REV:-the working tree})"
  mkdir -p "$bundle/session"
  cp "$out/nvidia-smi.txt" "$out/snakemake.log" "$out/wall_time.txt" "$bundle/session/"
  du -sh "$bundle"
fi
if [ "$sweep" = kernels ]; then
  python3 benchmarks/kernels.py --out "$out/kernels" --nsys 2>&1 | tee "$out/kernels.log" | tail -25
  rm -f "$out/kernels/prefill_decode_bench" "$out"/kernels/nsys/*/nsys.nsys-rep "$out"/kernels/nsys/*/nsys.sqlite
fi
python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/pytest_gpu.log" | tail -5

tar czf - "$bundle" results/"$slug"/report results/"$slug"/logs "$out"/kernels "$out"/*.log "$out"/*.txt 2>/dev/null |
  split -b 15m - "$out/gpu_run.tgz.part-"
cat "results/$slug/report/report.md" 2>/dev/null | head -40
ls -la "$out"
