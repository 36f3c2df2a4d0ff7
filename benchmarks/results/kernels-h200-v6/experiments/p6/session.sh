#!/bin/bash
source .carry/activate.sh
R="$OUT/p6"; mkdir -p "$R" /tmp/p6
build() { nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/p6/$1 & }
f() { echo "-DPDPROF_PERSISTENT_IN_FLIGHT=$1 -DPDPROF_PERSISTENT_IN_FLIGHT_AHEAD=$2"; }
build w1a1 $(f 1 1); build w2a1 $(f 2 1); build w3a1 $(f 3 1); build w4a1 $(f 4 1); build w6a1 $(f 6 1); build w4a2 $(f 4 2)
build w4a1b16 $(f 4 1) -DPDPROF_PERSISTENT_BOX_ROWS=16; build probe $(f 4 1) -DPDPROF_PERSISTENT_PROBE; wait
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['decode']['bytes_per_s']/1e12:.3f}\")" "$1" 2>/dev/null || echo "fail"; }
V="w1a1 w2a1 w3a1 w4a1 w6a1 w4a2 w4a1b16"
{
  echo "T kv_stream $V (TB/s, H200)"
  for T in 2048 4096 8192 16384 32768; do
    line="$T"
    timeout 60 /tmp/p6/w1a1 --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in $V; do timeout 60 /tmp/p6/$b --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
for T in 8192 32768; do timeout 60 /tmp/p6/probe --variant attention $SHAPE --T $T > /dev/null 2> "$R/probe-$T.txt"; grep -A3 "rep 4" "$R/probe-$T.txt" | tail -3; done
