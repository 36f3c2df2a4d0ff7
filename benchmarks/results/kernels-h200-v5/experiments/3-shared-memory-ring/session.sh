#!/bin/bash
# Session 3: attention K/V ring in shared memory (bulk copies + mbarrier) against the register version.
source .carry/activate.sh
R="$OUT/s3"; mkdir -p "$R"
mkdir -p /tmp/wip && tar xzf .carry/wip.tgz -C /tmp/wip
cd /tmp/wip
build() { nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels "${@:2}" kernels/prefill_decode_bench.cu -o /tmp/$1 -Xptxas -v > "$R/ptxas-$1.txt" 2>&1; }
Q="-DPDPROF_EXP_QPF=1 -DPDPROF_EXP_ACQREL=1 -DPDPROF_EXP_QSMEM=1"
build D0 $Q & build D1 $Q -DPDPROF_EXP_RING=1 & build D2 $Q -DPDPROF_EXP_RING=1 -DPDPROF_ATTENTION_RING_STAGES=2 &
build D3 $Q -DPDPROF_EXP_RING=1 -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=25 & build D4 $Q -DPDPROF_ATTENTION_PREFETCH_TILES=4 &
build D5 $Q -DPDPROF_EXP_RING=1 -DPDPROF_ATTENTION_RING_STAGES=2 -DPDPROF_ATTENTION_NEXT_LAYER_L2_PERCENT=25 &
build PR $Q -DPDPROF_EXP_RING=1 -DPDPROF_EXP_PROBE=1 &
wait
for b in D0 D1 D2 D3 D4 D5 PR; do [ -x /tmp/$b ] || echo "build $b failed"; done
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8"
summary() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['decode']['bytes_per_s']/1e12,3),'TB/s', 'splits', d['decode']['splits'], 'err', d['checks']['decode_reference_rel_error'])" "$1" 2>&1 | tail -1; }
t() { timeout 60 "$@"; }
# correctness first: odd T, groups, head dim 64, paged, batch
for b in D1 D2; do
  for args in "--T 777" "--T 1000 --heads 32 --kv-heads 4" "--T 1000 --H 2048 --heads 32 --kv-heads 8" "--T 1000 --heads 8 --kv-heads 8"; do
    t /tmp/$b --variant attention --L 3 --H 4096 --heads 32 --kv-heads 8 $args --warmup 1 --repeats 2 > "$R/c.json" 2>"$R/c.err"; echo "check $b $args rc=$? $(summary $R/c.json)"
  done
  t /tmp/$b --variant paged --L 3 --H 4096 --heads 32 --kv-heads 8 --T 1000 --page-size 8 --warmup 1 --repeats 2 > "$R/c.json" 2>"$R/c.err"; echo "check $b paged8 rc=$? $(summary $R/c.json)"
  t /tmp/$b --variant attention --L 3 --H 4096 --heads 32 --kv-heads 8 --T 1000 --batch 3 --warmup 1 --repeats 2 > "$R/c.json" 2>"$R/c.err"; echo "check $b batch3 rc=$? $(summary $R/c.json)"
done
for T in 2048 8192 32768; do
  t /tmp/PR --variant attention $SHAPE --T $T --warmup 3 --repeats 5 > "$R/PR-$T.json" 2> "$R/PR-$T.err"; echo "probe PR T=$T $(summary $R/PR-$T.json)"; grep probe "$R/PR-$T.err" | tail -2
done
for T in 2048 4096 8192 16384 32768; do
  t /tmp/D0 --variant kv_stream $SHAPE --T $T --warmup 3 --repeats 10 > "$R/kv-D0-$T.json" 2>/dev/null; echo "kv_stream D0 T=$T $(summary $R/kv-D0-$T.json)"
  for b in D0 D1 D2 D3 D4 D5; do t /tmp/$b --variant attention $SHAPE --T $T --warmup 3 --repeats 10 > "$R/at-$b-$T.json" 2>/dev/null; echo "attention $b T=$T $(summary $R/at-$b-$T.json)"; done
done
for b in D0 D1 D2; do t /tmp/$b --variant paged $SHAPE --T 32768 --page-size 16 --warmup 3 --repeats 10 > "$R/p.json" 2>/dev/null; echo "paged16 $b T=32768 $(summary $R/p.json)"; done
cd "$OUT" && tar czf s3.tgz s3 && rm -rf s3
