#!/bin/bash
# Session script: the persistent attention kernel's first run: correctness at small shapes, then
# kv_stream / layered attention / persistent attention side by side at T = 2k..32k.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/p1"; mkdir -p "$R"
nvidia-smi > "$R/nvidia-smi.txt" 2>&1
B=/tmp/p1/bench; mkdir -p /tmp/p1
nvcc -O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels kernels/prefill_decode_bench.cu -o $B > "$R/build.log" 2>&1 || { cat "$R/build.log"; exit 1; }
small() {  # name args...
  local name=$1; shift
  timeout 30 $B --warmup 1 --repeats 3 "$@" > "$R/small-$name.json" 2> "$R/small-$name.err"
  echo "$name rc=$? $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['checks']['decode_reference_rel_error'], d['decode']['persistent'], d['decode']['splits'], d['decode']['tokens_per_split'])" "$R/small-$name.json" 2>/dev/null) $(tail -c 300 "$R/small-$name.err" | tr '\n' ' ')"
}
{
small d128g4 --variant attention --L 2 --H 1024 --heads 8 --kv-heads 2 --T 777
small d64g8 --variant attention --L 2 --H 512 --heads 8 --kv-heads 1 --T 777
small d128g1 --variant attention --L 2 --H 1024 --heads 8 --kv-heads 8 --T 777
small d128g2 --variant attention --L 2 --H 2048 --heads 16 --kv-heads 8 --T 777
small L8 --variant attention --L 8 --H 2048 --heads 16 --kv-heads 4 --T 3000
small batch3 --variant attention --L 4 --H 1024 --heads 8 --kv-heads 2 --T 1000 --batch 3
small paged8 --variant paged --L 4 --H 1024 --heads 8 --kv-heads 2 --T 1000 --page-size 8
small paged64b3 --variant paged --L 4 --H 1024 --heads 8 --kv-heads 2 --T 1000 --page-size 64 --batch 3
small big --variant attention --L 32 --H 4096 --heads 32 --kv-heads 8 --T 4096
} > "$R/small.txt" 2>&1; cat "$R/small.txt"
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['decode']['bytes_per_s']/1e12:.3f} {d['decode']['ms_median']:.4f}\")" "$1" 2>/dev/null || echo "fail"; }
{
  echo "T kv_stream(TB/s ms) attention_layered attention_persistent paged16_persistent paged16_layered (H200, $1)"
  for T in 2048 4096 8192 16384 32768; do
    timeout 60 $B --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; a=$(rate /tmp/a.json)
    timeout 60 $B --variant attention $SHAPE --T $T --persistent off > /tmp/b.json 2>/dev/null; b=$(rate /tmp/b.json)
    timeout 60 $B --variant attention $SHAPE --T $T > /tmp/c.json 2>"$R/persist-$T.err"; c=$(rate /tmp/c.json)
    timeout 60 $B --variant paged $SHAPE --T $T > /tmp/d.json 2>/dev/null; d=$(rate /tmp/d.json)
    timeout 60 $B --variant paged $SHAPE --T $T --persistent off > /tmp/e.json 2>/dev/null; e=$(rate /tmp/e.json)
    echo "$T | $a | $b | $c | $d | $e"
    cp /tmp/c.json "$R/attention-persistent-$T.json"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
cd "$OUT" && tar czf p1.tgz p1 && rm -rf p1
