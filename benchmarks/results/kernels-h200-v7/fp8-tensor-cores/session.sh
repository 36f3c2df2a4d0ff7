#!/bin/bash
# v7 session 8: fp8 attention on the tensor cores (80ab7d4): GPU tests of the attention paths,
# then fp8 attention old (CUDA cores, main) vs new (tensor cores) beside kv_stream_fp8 and bf16.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/h1"; mkdir -p "$R"
B=.carry/v7
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['decode']; c=json.load(open(sys.argv[1]))['checks']; print(f\"{d['bytes_per_s']/1e12:.3f}(tc={d['tensor_cores']},e{c['decode_reference_rel_error']:.1e})\")" "$1" 2>/dev/null || echo "fail"; }
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
{
  echo "T kv_stream_fp8 attention_fp8:old(CUDA cores) attention_fp8:new(tensor cores) attention(bf16,new) (TB/s, H200)"
  for T in 2048 8192 32768; do
    line="$T"
    timeout 60 $B/fp8new --variant kv_stream_fp8 $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 $B/fp8old --variant attention_fp8 $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 $B/fp8new --variant attention_fp8 $SHAPE --T $T > /tmp/a.json 2>/tmp/a.err; line="$line $(rate /tmp/a.json) $(grep -m1 error /tmp/a.err)"
    timeout 60 $B/fp8new --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    echo "$line"
  done
  for args in "--L 3 --H 1024 --heads 8 --kv-heads 2 --T 1000" "--L 2 --H 512 --heads 8 --kv-heads 1 --T 777" "--L 3 --H 4096 --heads 32 --kv-heads 8 --batch 3 --T 1000"; do
    timeout 60 $B/fp8new --variant attention_fp8 $args --warmup 1 --repeats 3 > /tmp/a.json 2>/tmp/a.err; echo "check rc=$? $(rate /tmp/a.json) :: $args :: $(grep -m1 error /tmp/a.err)"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
timeout 330 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py > "$R/pytest_gpu.log" 2>&1; echo "pytest exit $?" >> "$R/pytest_gpu.log"; tail -4 "$R/pytest_gpu.log"
cd "$OUT" && tar czf h1.tgz h1 && rm -rf h1
