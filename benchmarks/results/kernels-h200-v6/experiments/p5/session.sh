#!/bin/bash
source .carry/activate.sh
R="$OUT/p5"; mkdir -p "$R" /tmp/p5
build() { nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/p5/$1 & }
build probe1 -DPDPROF_PERSISTENT_PROBE -DPDPROF_PERSISTENT_IN_FLIGHT=1; build probe6 -DPDPROF_PERSISTENT_PROBE -DPDPROF_PERSISTENT_IN_FLIGHT=6; wait
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 3"
for w in 1 6; do for T in 8192 32768; do timeout 60 /tmp/p5/probe$w --variant attention $SHAPE --T $T > /dev/null 2> "$R/probe$w-$T.txt"; echo "w$w T$T"; grep -A3 "rep 4" "$R/probe$w-$T.txt" | tail -3; done; done
