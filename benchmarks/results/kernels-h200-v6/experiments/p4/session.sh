#!/bin/bash
source .carry/activate.sh
R="$OUT/p4"; mkdir -p "$R" /tmp/p4
build() { nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/p4/$1 & }
for w in 1 2 3 4 6; do build w$w -DPDPROF_PERSISTENT_IN_FLIGHT=$w; done
build w2b16 -DPDPROF_PERSISTENT_IN_FLIGHT=2 -DPDPROF_PERSISTENT_BOX_ROWS=16
build probe -DPDPROF_PERSISTENT_PROBE -DPDPROF_PERSISTENT_IN_FLIGHT=2; wait
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['decode']['bytes_per_s']/1e12:.3f}\")" "$1" 2>/dev/null || echo "fail"; }
{
  echo "T kv_stream layered w1 w2 w3 w4 w6 w2b16 (TB/s, H200)"
  for T in 2048 4096 8192 16384 32768; do
    line="$T"
    timeout 60 /tmp/p4/w2 --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 /tmp/p4/w2 --variant attention --persistent off $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in w1 w2 w3 w4 w6 w2b16; do timeout 60 /tmp/p4/$b --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
for T in 2048 8192 32768; do timeout 60 /tmp/p4/probe --variant attention $SHAPE --T $T > /dev/null 2> "$R/probe-$T.txt"; grep -A3 "rep 4" "$R/probe-$T.txt"; done
