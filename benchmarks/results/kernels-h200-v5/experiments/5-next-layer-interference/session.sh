#!/bin/bash
# Session 5: the next layer's interference: late launch_dependents, no register preload, fewer prefetches, longer splits.
source .carry/activate.sh
R="$OUT/s5"; mkdir -p "$R"
mkdir -p /tmp/wip && tar xzf .carry/wip.tgz -C /tmp/wip
cd /tmp/wip
build() { nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/$1 -Xptxas -v > "$R/ptxas-$1.txt" 2>&1; }
Q="-DPDPROF_EXP_QPF=1 -DPDPROF_EXP_ACQREL=1 -DPDPROF_EXP_QSMEM=1"
build G0 $Q & build G1 $Q -DPDPROF_EXP_LATE_TRIGGER=1 & build G2 $Q -DPDPROF_EXP_NOPRELOAD=1 & build G3 $Q -DPDPROF_ATTENTION_PREFETCH_TILES=1 &
build G4 $Q -DPDPROF_ATTENTION_SPLIT_ROWS=256 & build G5 $Q -DPDPROF_EXP_LATE_TRIGGER=1 -DPDPROF_ATTENTION_SPLIT_ROWS=256 &
build G6 $Q -DPDPROF_ATTENTION_PREFETCH_TILES=4 -DPDPROF_ATTENTION_SPLIT_ROWS=256 &
wait
for b in G0 G1 G2 G3 G4 G5 G6; do [ -x /tmp/$b ] || echo "build $b failed"; done
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8"
summary() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['decode']['bytes_per_s']/1e12,3),'TB/s', 'splits', d['decode']['splits'], 'err', d['checks']['decode_reference_rel_error'])" "$1" 2>&1 | tail -1; }
t() { timeout 60 "$@"; }
for T in 2048 4096 8192 16384 32768; do
  t /tmp/G0 --variant kv_stream $SHAPE --T $T --warmup 3 --repeats 10 > "$R/kv-G0-$T.json" 2>/dev/null; echo "kv_stream G0 T=$T $(summary $R/kv-G0-$T.json)"
  for b in G0 G1 G2 G3 G4 G5 G6; do t /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 10 > "$R/at-$b-$T.json" 2>/dev/null; echo "attention $b T=$T $(summary $R/at-$b-$T.json)"; done
done
cd "$OUT" && tar czf s5.tgz s5 && rm -rf s5
