#!/bin/bash
# v8 session 3: where the fp8 persistent attention's scan spends its time: ncu (warp states,
# scheduler, pipes, per-instruction SASS samples) of one 32-layer step at T = 32k, fp8 with 8
# and 4 scanning warps and bf16, and the fp8 kernel's SASS.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1
R="$OUT/s3"; mkdir -p "$R"
B=/tmp/b; mkdir -p "$B"
F="-O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels"
nvcc $F kernels/prefill_decode_bench.cu -o $B/w8 &
nvcc $F -DPDPROF_PERSISTENT_FP8_SCAN_WARPS=4 kernels/prefill_decode_bench.cu -o $B/w4 &
wait
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --T 32768 --warmup 1 --mode profile --profile-layers 32"
SECTIONS="--section SpeedOfLight --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis --section InstructionStats --section SourceCounters --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy"
for run in "w8 attention_fp8 fp8w8" "w4 attention_fp8 fp8w4" "w8 attention bf16"; do
  set -- $run
  timeout 150 ncu --clock-control none --profile-from-start off $SECTIONS --import-source yes -o "$R/$3" --force-overwrite $B/$1 --variant $2 $SHAPE > "$R/$3.stdout" 2>&1
  echo "$3 ncu exit $?"
  ncu --import "$R/$3.ncu-rep" --csv > "$R/$3_details.csv" 2>&1
  ncu --import "$R/$3.ncu-rep" --page source --csv --print-source sass > "$R/$3_sass_source.csv" 2> "$R/$3_sass_source.err"
  echo "$3 exports: $(wc -c < "$R/$3_details.csv") B details, $(wc -c < "$R/$3_sass_source.csv") B source"
done
cuobjdump --dump-sass $B/w8 2>/dev/null | awk '/Function : .*persistent_kernelILi4ELi128ELb0E7Fp8/{p=1} p&&/Function : /&&!/persistent_kernelILi4ELi128ELb0E7Fp8/{p=0} p' > "$R/fp8w8_g4_d128.sass"
wc -l "$R/fp8w8_g4_d128.sass"
python3 - "$R" <<'PY'
import csv, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*_details.csv")):
    rows = list(csv.DictReader(open(f)))
    keep = ("Duration", "Compute (SM) Throughput", "Memory Throughput", "DRAM Throughput", "Issue Slots Busy", "Issued Warp Per Scheduler", "No Eligible", "Active Warps Per Scheduler", "Eligible Warps Per Scheduler", "Warp Cycles Per Issued Instruction", "Executed Ipc Active", "SM Busy", "L1/TEX Hit Rate", "Bank Conflicts")
    print(f.name)
    for r in rows:
        if any(k in r.get("Metric Name", "") for k in keep):
            print("  ", r["Metric Name"], r["Metric Value"], r.get("Metric Unit", ""))
PY
cp .carry/v8/s3.sh "$R/session.sh"
cd "$OUT" && tar czf s3.tgz s3 && rm -rf s3
