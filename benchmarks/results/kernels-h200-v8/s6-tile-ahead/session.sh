#!/bin/bash
# v8 session 6: the persistent scan one tile ahead (registers) against the current scan, fp8
# with 8 and 4 scanning warps, and bf16; correctness at small shapes first.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1
R="$OUT/s6"; mkdir -p "$R"
B=/tmp/b; mkdir -p "$B"
F="-O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels"
start=$(date +%s)
nvcc $F -DPDPROF_PERSISTENT_TILE_AHEAD=0 kernels/prefill_decode_bench.cu -o $B/a0 &
nvcc $F kernels/prefill_decode_bench.cu -o $B/a1 &
nvcc $F -DPDPROF_PERSISTENT_FP8_SCAN_WARPS=4 kernels/prefill_decode_bench.cu -o $B/a1w4 &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee "$R/builds.txt"
rate() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); d=r['decode']; c=r['checks']; print(f\"{d['bytes_per_s']/1e12:.3f}{'p' if d.get('persistent') else 'l'}(e{c['decode_reference_rel_error']:.1e})\")" "$1" 2>/dev/null || echo "fail"; }
for b in a1 a1w4; do for v in attention attention_fp8; do for shape in "--L 3 --H 1024 --heads 8 --kv-heads 2 --T 1000" "--L 8 --H 1024 --heads 8 --kv-heads 2 --T 1000" "--L 2 --H 2048 --heads 16 --kv-heads 8 --T 777" "--L 3 --H 1024 --heads 8 --kv-heads 2 --T 1000 --batch 3"; do
  timeout 60 $B/$b --variant $v $shape --warmup 1 --repeats 3 > /tmp/a.json 2> /tmp/a.err; echo "$b $v $shape: $(rate /tmp/a.json) $(tail -c 200 /tmp/a.err | tr '\n' ' ' | grep -o 'error.*')"; done; done; done | tee "$R/small_shapes.txt"
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
{
  echo "T kv_stream_fp8 fp8:a0(8w) fp8:a1(8w) fp8:a1(4w) kv_stream bf16:a0 bf16:a1 (TB/s, H200; a1 = one tile ahead)"
  for T in 2048 4096 8192 16384 32768; do
    line="$T"
    timeout 60 $B/a0 --variant kv_stream_fp8 $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in a0 a1 a1w4; do timeout 60 $B/$b --variant attention_fp8 $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    timeout 60 $B/a0 --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in a0 a1; do timeout 60 $B/$b --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
cp .carry/v8/s6.sh "$R/session.sh"
cd "$OUT" && tar czf s6.tgz s6 && rm -rf s6
