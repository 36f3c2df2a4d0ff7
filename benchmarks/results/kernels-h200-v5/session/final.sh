#!/bin/bash
# Session script: GPU tests, the kernel table, and v4 against v5 side by side, at the commit given.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/v5"; mkdir -p "$R"
nvidia-smi > "$R/nvidia-smi.txt" 2>&1
timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py > "$R/pytest_gpu.log" 2>&1; tail -2 "$R/pytest_gpu.log"
timeout 330 python3 benchmarks/kernels.py --nsys --repeats 10 --out /tmp/v5 > "$R/kernels.log" 2>&1; tail -32 "$R/kernels.log"
cp /tmp/v5/kernels_table.json /tmp/v5/calibration.json "$R/" 2>/dev/null
# The same attention and kv_stream points built from v4's kernels (commit 9ac17fb) and from this commit, one after the other.
mkdir -p /tmp/v4 && tar xzf .carry/v4-kernels.tgz -C /tmp/v4
nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -I/tmp/v4/kernels /tmp/v4/kernels/prefill_decode_bench.cu -o /tmp/v4/bench
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['decode']['bytes_per_s']/1e12:.3f}\")" "$1"; }
{
  echo "variant T v4_TBps v5_TBps (9ac17fb vs $1, H200, one after the other)"
  for T in 2048 4096 8192 16384 32768; do
    for v in kv_stream attention; do
      timeout 60 /tmp/v4/bench --variant $v $SHAPE --T $T > /tmp/a.json 2>/dev/null
      timeout 60 /tmp/v5/prefill_decode_bench --variant $v $SHAPE --T $T > /tmp/b.json 2>/dev/null
      echo "$v $T $(rate /tmp/a.json) $(rate /tmp/b.json)"
    done
  done
} > "$R/v4_vs_v5.txt" 2>&1; cat "$R/v4_vs_v5.txt"
cd "$OUT" && tar czf v5.tgz v5 && rm -rf v5
