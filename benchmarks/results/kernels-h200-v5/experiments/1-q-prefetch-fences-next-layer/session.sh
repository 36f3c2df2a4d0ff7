#!/bin/bash
# Session 1: branch wip/batch-paged-v2 GPU tests; attention experiments side by side.
source .carry/activate.sh
R="$OUT/s1"; mkdir -p "$R"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt"
mkdir -p /tmp/wip /tmp/mainsrc && tar xzf .carry/wip.tgz -C /tmp/wip && tar xzf .carry/main-kernels.tgz -C /tmp/mainsrc
cd /tmp/wip
build() { nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/$1 -Xptxas -v > "$R/ptxas-$1.txt" 2>&1; }
E="-DPDPROF_EXP_QPF=1 -DPDPROF_EXP_ACQREL=1"
build B0 & build B1 $E & build B2 $E -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=25 & build B3 $E -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=50 &
build P0 -DPDPROF_EXP_PROBE=1 & build P1 $E -DPDPROF_EXP_PROBE=1 & build P3 $E -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=50 -DPDPROF_EXP_PROBE=1 &
(nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -I/tmp/mainsrc/kernels /tmp/mainsrc/kernels/prefill_decode_bench.cu -o /tmp/M > "$R/ptxas-M.txt" 2>&1) &
(export PYTHONPATH=/tmp/wip/src:$PYTHONPATH; timeout 400 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py > "$R/pytest_gpu.log" 2>&1) &
GPU_TESTS=$!
wait $(jobs -p | grep -v "^$GPU_TESTS$") 2>/dev/null
for b in B0 B1 B2 B3 P0 P1 P3 M; do [ -x /tmp/$b ] || echo "build $b failed"; done
wait $GPU_TESTS; tail -5 "$R/pytest_gpu.log"
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8"
summary() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['decode']['bytes_per_s']/1e12,3),'TB/s', 'splits', d['decode']['splits'], 'err', d['checks']['decode_reference_rel_error'])" "$1" 2>&1 | tail -1; }
for T in 2048 8192 32768; do
  for b in P0 P1 P3; do
    /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 5 > "$R/$b-$T.json" 2> "$R/$b-$T.err"; echo "probe $b T=$T $(summary $R/$b-$T.json)"; grep probe "$R/$b-$T.err"
  done
done
for T in 2048 4096 8192 16384 32768; do
  for b in M B0 B1; do /tmp/$b --variant kv_stream $SHAPE --T $T --warmup 3 --repeats 10 > "$R/kv-$b-$T.json" 2>/dev/null; echo "kv_stream $b T=$T $(summary $R/kv-$b-$T.json)"; done
  for b in M B0 B1 B2 B3; do /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 10 > "$R/at-$b-$T.json" 2>/dev/null; echo "attention $b T=$T $(summary $R/at-$b-$T.json)"; done
done
for b in B0 B3; do
  /tmp/$b --variant paged $SHAPE --T 32768 --page-size 16 --warmup 3 --repeats 10 > "$R/paged-$b.json" 2>/dev/null; echo "paged16 $b T=32768 $(summary $R/paged-$b.json)"
  /tmp/$b --variant attention $SHAPE --T 8192 --batch 4 --warmup 3 --repeats 10 > "$R/b4-$b.json" 2>/dev/null; echo "attention batch4 $b T=8192 $(summary $R/b4-$b.json)"
  /tmp/$b --variant kv_stream $SHAPE --T 8192 --batch 4 --warmup 3 --repeats 10 > "$R/kvb4-$b.json" 2>/dev/null; echo "kv_stream batch4 $b T=8192 $(summary $R/kvb4-$b.json)"
done
cd "$OUT" && tar czf s1.tgz s1 && rm -rf s1
