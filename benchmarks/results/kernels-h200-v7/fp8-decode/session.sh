#!/bin/bash
# v7 session 9: fp8 decode through the hardware conversion (fp8dec) against the integer decode
# (fp8new, 80ab7d4), side by side; GPU tests of every fp8 path (compiled and CuPy runner).
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/h2"; mkdir -p "$R"
B=.carry/v7
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['decode']; c=json.load(open(sys.argv[1]))['checks']; print(f\"{d['bytes_per_s']/1e12:.3f}(e{c['decode_reference_rel_error']:.1e})\")" "$1" 2>/dev/null || echo "fail"; }
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
{
  echo "T kv_stream_fp8:integer-decode kv_stream_fp8:hardware-decode attention_fp8:integer attention_fp8:hardware kv_stream(bf16) (TB/s, H200)"
  for T in 2048 8192 32768; do
    line="$T"
    for v in kv_stream_fp8 attention_fp8; do
      for b in fp8new fp8dec; do timeout 60 $B/$b --variant $v $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; done
    done
    timeout 60 $B/fp8dec --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    echo "$line"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -k "fp8 or every_variant or cupy or batches" > "$R/pytest_gpu.log" 2>&1; echo "pytest exit $?" >> "$R/pytest_gpu.log"; tail -4 "$R/pytest_gpu.log"
cd "$OUT" && tar czf h2.tgz h2 && rm -rf h2
