#!/bin/bash
# v8 session 4: fp8 persistent attention with q and P as one f16 term against the f16 pair,
# at 4, 8 and 12 scanning warps, side by side with kv_stream_fp8.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1
R="$OUT/s4"; mkdir -p "$R"
B=/tmp/b; mkdir -p "$B"
F="-O3 -std=c++17 -lineinfo -arch=sm_90 -Ikernels"
start=$(date +%s)
nvcc $F kernels/prefill_decode_bench.cu -o $B/t2w8 &
nvcc $F -DPDPROF_FP8_QP_TERMS=1 kernels/prefill_decode_bench.cu -o $B/t1w8 &
nvcc $F -DPDPROF_FP8_QP_TERMS=1 -DPDPROF_PERSISTENT_FP8_SCAN_WARPS=4 kernels/prefill_decode_bench.cu -o $B/t1w4 &
nvcc $F -DPDPROF_FP8_QP_TERMS=1 -DPDPROF_PERSISTENT_FP8_SCAN_WARPS=12 -Xptxas -v kernels/prefill_decode_bench.cu -o $B/t1w12 2> "$R/t1w12_ptxas.log" &
wait
echo "builds: $(( $(date +%s) - start )) s" | tee "$R/builds.txt"
grep -A3 "Compiling entry.*persistent.*Fp8" "$R/t1w12_ptxas.log" | grep -E "registers|spill" | sort | uniq -c | tee -a "$R/builds.txt"
rate() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); d=r['decode']; c=r['checks']; print(f\"{d['bytes_per_s']/1e12:.3f}{'p' if d.get('persistent') else 'l'}(e{c['decode_reference_rel_error']:.1e})\")" "$1" 2>/dev/null || echo "fail"; }
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
{
  echo "T kv_stream_fp8 attention_fp8:pair,8warps attention_fp8:one-term,4warps attention_fp8:one-term,8warps attention_fp8:one-term,12warps (TB/s, H200; p persistent; e = relative error against float64)"
  for T in 2048 4096 8192 16384 32768; do
    line="$T"
    timeout 60 $B/t2w8 --variant kv_stream_fp8 $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for b in t2w8 t1w4 t1w8 t1w12; do timeout 60 $B/$b --variant attention_fp8 $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
for b in t1w8 t1w12; do for shape in "--L 3 --H 1024 --heads 8 --kv-heads 2 --T 1000" "--L 2 --H 1024 --heads 8 --kv-heads 8 --T 777" "--L 3 --H 1024 --heads 8 --kv-heads 2 --T 1000 --batch 3"; do
  timeout 60 $B/$b --variant attention_fp8 $shape --warmup 1 --repeats 3 > /tmp/a.json 2>/dev/null; echo "$b $shape: $(rate /tmp/a.json)"; done; done | tee "$R/small_shapes.txt"
cp .carry/v8/s4.sh "$R/session.sh"
cd "$OUT" && tar czf s4.tgz s4 && rm -rf s4
