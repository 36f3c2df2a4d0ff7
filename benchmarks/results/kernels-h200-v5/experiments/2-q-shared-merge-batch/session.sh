#!/bin/bash
# Session 2: attention experiments round 2 (q through shared memory, merge batch, one block per SM).
source .carry/activate.sh
R="$OUT/s2"; mkdir -p "$R"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt"
mkdir -p /tmp/wip && tar xzf .carry/wip.tgz -C /tmp/wip
cd /tmp/wip
build() { nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/$1 -Xptxas -v > "$R/ptxas-$1.txt" 2>&1; }
E="-DPDPROF_EXP_QPF=1 -DPDPROF_EXP_ACQREL=1"
Q="$E -DPDPROF_EXP_QSMEM=1"
M="$Q -DPDPROF_EXP_MB32=1"
build C0 $E & build C1 $Q & build C2 $M & build C3 $M -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=25 &
build C4 $M -DPDPROF_EXP_BPS1=1 & build C5 $M -DPDPROF_EXP_BPS1=1 -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=25 &
build P2 $M -DPDPROF_EXP_PROBE=1 & build P5 $M -DPDPROF_EXP_BPS1=1 -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=25 -DPDPROF_EXP_PROBE=1 &
wait
for b in C0 C1 C2 C3 C4 C5 P2 P5; do [ -x /tmp/$b ] || echo "build $b failed"; done
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8"
summary() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['decode']['bytes_per_s']/1e12,3),'TB/s', 'splits', d['decode']['splits'], 'err', d['checks']['decode_reference_rel_error'])" "$1" 2>&1 | tail -1; }
for T in 2048 8192 32768; do
  for b in P2 P5; do
    /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 5 > "$R/$b-$T.json" 2> "$R/$b-$T.err"; echo "probe $b T=$T $(summary $R/$b-$T.json)"; grep probe "$R/$b-$T.err" | tail -2
  done
done
for T in 2048 4096 8192 16384 32768; do
  /tmp/C0 --variant kv_stream $SHAPE --T $T --warmup 3 --repeats 10 > "$R/kv-C0-$T.json" 2>/dev/null; echo "kv_stream C0 T=$T $(summary $R/kv-C0-$T.json)"
  for b in C0 C1 C2 C3 C4 C5; do /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 10 > "$R/at-$b-$T.json" 2>/dev/null; echo "attention $b T=$T $(summary $R/at-$b-$T.json)"; done
done
cd "$OUT" && tar czf s2.tgz s2 && rm -rf s2
