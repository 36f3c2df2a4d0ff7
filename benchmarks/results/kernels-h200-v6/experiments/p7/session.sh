#!/bin/bash
source .carry/activate.sh
R="$OUT/p7"; mkdir -p "$R" /tmp/p7
build() { nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/p7/$1 & }
f() { echo "-DPDPROF_PERSISTENT_SCAN_WARPS=$1 -DPDPROF_PERSISTENT_IN_FLIGHT=$2 -DPDPROF_PERSISTENT_IN_FLIGHT_AHEAD=$3"; }
build s4w2 $(f 4 2 1); build s8w2 $(f 8 2 1); build s8w3 $(f 8 3 1); build s8w4 $(f 8 4 1); build s8w6 $(f 8 6 1); build s8w4a2 $(f 8 4 2)
build probe $(f 8 3 1) -DPDPROF_PERSISTENT_PROBE; wait
B=/tmp/p7/s8w3
small() { local name=$1; shift; timeout 30 $B --warmup 1 --repeats 3 "$@" > "$R/small-$name.json" 2> "$R/small-$name.err"
  echo "$name rc=$? $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['checks']['decode_reference_rel_error'], d['decode']['persistent'])" "$R/small-$name.json" 2>/dev/null) $(tail -c 200 "$R/small-$name.err" | tr '\n' ' ')"; }
small d128g4 --variant attention --L 2 --H 1024 --heads 8 --kv-heads 2 --T 777
small d64g8 --variant attention --L 2 --H 512 --heads 8 --kv-heads 1 --T 777
small d128g1 --variant attention --L 2 --H 1024 --heads 8 --kv-heads 8 --T 777
small d128g8 --variant attention --L 3 --H 2048 --heads 16 --kv-heads 2 --T 3001
small L8 --variant attention --L 8 --H 2048 --heads 16 --kv-heads 4 --T 3000
small batch3 --variant attention --L 4 --H 1024 --heads 8 --kv-heads 2 --T 1000 --batch 3
small paged8 --variant paged --L 4 --H 1024 --heads 8 --kv-heads 2 --T 1000 --page-size 8
small paged64b3 --variant paged --L 4 --H 1024 --heads 8 --kv-heads 2 --T 1000 --page-size 64 --batch 3
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['decode']['bytes_per_s']/1e12:.3f}\")" "$1" 2>/dev/null || echo "fail"; }
V="s4w2 s8w2 s8w3 s8w4 s8w6 s8w4a2"
{
  echo "T kv_stream $V (TB/s, H200)"
  for T in 2048 4096 8192 16384 32768; do
    line="$T"
    timeout 60 $B --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in $V; do timeout 60 /tmp/p7/$b --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
for T in 2048 8192; do timeout 60 /tmp/p7/probe --variant attention $SHAPE --T $T > /dev/null 2> "$R/probe-$T.txt"; grep -A3 "rep 4" "$R/probe-$T.txt" | tail -2; done
