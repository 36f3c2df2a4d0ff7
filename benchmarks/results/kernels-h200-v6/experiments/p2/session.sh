#!/bin/bash
# Session script: where the persistent kernel's per-layer time goes (globaltimer probe), and
# box rows / items per block side by side.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1
R="$OUT/p2"; mkdir -p "$R"; mkdir -p /tmp/p2
build() { nvcc -O3 -std=c++17 -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/p2/$1 & }
build base; build probe -DPDPROF_PERSISTENT_PROBE; build box16 -DPDPROF_PERSISTENT_BOX_ROWS=16; build box32 -DPDPROF_PERSISTENT_BOX_ROWS=32
build items2 -DPDPROF_PERSISTENT_ITEMS_PER_BLOCK=2; build box8 -DPDPROF_PERSISTENT_BOX_ROWS=8; wait
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
for T in 2048 8192 32768; do timeout 60 /tmp/p2/probe --variant attention $SHAPE --T $T > /dev/null 2> "$R/probe-$T.txt"; done
grep -h "L0[1-5]\|L31\|rep 4" "$R"/probe-8192.txt | tail -8
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['decode']['bytes_per_s']/1e12:.3f}\")" "$1" 2>/dev/null || echo "fail"; }
{
  echo "T kv_stream base box32 box16 box8 items2 (TB/s, H200)"
  for T in 2048 4096 8192 16384 32768; do
    line="$T"
    timeout 60 /tmp/p2/base --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in base box32 box16 box8 items2; do timeout 60 /tmp/p2/$b --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
cd "$OUT" && tar czf p2.tgz p2 && rm -rf p2
