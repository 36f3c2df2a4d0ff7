#!/bin/bash
# Session script: the paged fix (page ids fetched per stage before the waits), GPU tests of the
# paged and persistent paths, paged against contiguous at T = 4k and 32k side by side.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/p8"; mkdir -p "$R" /tmp/p8
build() { nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/p8/$1 & }
build base; build w3 -DPDPROF_PERSISTENT_IN_FLIGHT=3; build b32 -DPDPROF_PERSISTENT_BOX_ROWS=32; wait
timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -k "paged or persistent or batches" > "$R/pytest_gpu.log" 2>&1; tail -2 "$R/pytest_gpu.log"
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['decode']['bytes_per_s']/1e12:.3f}\")" "$1" 2>/dev/null || echo "fail"; }
B=/tmp/p8/base
{
  echo "T attention paged8 paged16 paged128 paged8_layered paged16_layered (TB/s, H200, $1)"
  for T in 4096 32768; do
    line="$T"
    timeout 60 $B --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for ps in 8 16 128; do timeout 60 $B --variant paged --page-size $ps $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    for ps in 8 16; do timeout 60 $B --variant paged --page-size $ps --persistent off $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
  echo "T kv_stream base w3 b32 (attention TB/s)"
  for T in 4096 8192; do
    line="$T"
    timeout 60 $B --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in base w3 b32; do timeout 60 /tmp/p8/$b --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
