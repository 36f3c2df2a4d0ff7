#!/bin/bash
source .carry/activate.sh
R="$OUT/p3"; mkdir -p "$R" /tmp/p3
nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels -DPDPROF_PERSISTENT_PROBE kernels/prefill_decode_bench.cu -o /tmp/p3/probe
nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels -DPDPROF_PERSISTENT_PROBE -DPDPROF_PERSISTENT_ITEMS_PER_BLOCK=2 kernels/prefill_decode_bench.cu -o /tmp/p3/probe2 &
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 3"
for T in 2048 8192 32768; do timeout 60 /tmp/p3/probe --variant attention $SHAPE --T $T > /dev/null 2> "$R/probe-$T.txt"; done
wait; timeout 60 /tmp/p3/probe2 --variant attention $SHAPE --T 8192 > /dev/null 2> "$R/probe2-8192.txt"
for f in "$R"/*.txt; do echo "== $f"; grep -A7 "rep 4" $f | head -9; done
