#!/bin/bash
# Session 4: the ring's merge under the next layer's traffic: merge batch 32, fewer stages before the wait.
source .carry/activate.sh
R="$OUT/s4"; mkdir -p "$R"
mkdir -p /tmp/wip && tar xzf .carry/wip.tgz -C /tmp/wip
cd /tmp/wip
build() { nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/$1 -Xptxas -v > "$R/ptxas-$1.txt" 2>&1; }
Q="-DPDPROF_EXP_QPF=1 -DPDPROF_EXP_ACQREL=1 -DPDPROF_EXP_QSMEM=1"
RM="$Q -DPDPROF_EXP_RING=1 -DPDPROF_EXP_MB32=1"
build F0 $Q & build F1 $Q -DPDPROF_EXP_MB32=1 & build F2 $RM & build F3 $RM -DPDPROF_EXP_RING_EARLY=1 &
build F4 $RM -DPDPROF_ATTENTION_PREFETCH_TILES=0 & build F5 $RM -DPDPROF_EXP_RING_EARLY=2 &
build PF0 $Q -DPDPROF_EXP_PROBE=1 & build PF2 $RM -DPDPROF_EXP_PROBE=1 &
wait
for b in F0 F1 F2 F3 F4 F5 PF0 PF2; do [ -x /tmp/$b ] || echo "build $b failed"; done
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8"
summary() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['decode']['bytes_per_s']/1e12,3),'TB/s', 'splits', d['decode']['splits'], 'err', d['checks']['decode_reference_rel_error'], 'ms', [round(x,4) for x in d['decode']['ms_all'][:4]])" "$1" 2>&1 | tail -1; }
t() { timeout 60 "$@"; }
for T in 2048 8192 32768; do
  for b in PF0 PF2; do
    t /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 5 > "$R/$b-$T.json" 2> "$R/$b-$T.err"; echo "probe $b T=$T $(summary $R/$b-$T.json)"; grep probe "$R/$b-$T.err" | sed 's/(ns after the previous layer.s output)//'
  done
done
for T in 2048 4096 8192 16384 32768; do
  t /tmp/F0 --variant kv_stream $SHAPE --T $T --warmup 3 --repeats 10 > "$R/kv-F0-$T.json" 2>/dev/null; echo "kv_stream F0 T=$T $(summary $R/kv-F0-$T.json)"
  for b in F0 F1 F2 F3 F4 F5; do t /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 10 > "$R/at-$b-$T.json" 2>/dev/null; echo "attention $b T=$T $(summary $R/at-$b-$T.json)"; done
done
cd "$OUT" && tar czf s4.tgz s4 && rm -rf s4
