#!/bin/bash
# v7 session 2: merge through tagged words (no arrival count) against the last-block merge,
# side by side; the cluster merge where it fits (7 KV heads); GPU tests of the tree.
source .carry/activate.sh
export PYTHONPATH=$PWD/src:$PYTHONPATH PDPROF_GIT_REV=$1
R="$OUT/s2"; mkdir -p "$R"
OLD=.carry/v7/old; N8=.carry/v7/new8; N16=.carry/v7/new16
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total,driver_version --format=csv > "$R/device.txt"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['decode']; c=json.load(open(sys.argv[1]))['checks']; print(f\"{d['bytes_per_s']/1e12:.3f}(s{d['splits']},e{c['decode_reference_rel_error']:.1e})\")" "$1" 2>/dev/null || echo "fail"; }
{
for b in $N8 $N16; do
  for args in "--variant attention --L 5 --H 1024 --heads 8 --kv-heads 2 --T 1000" \
              "--variant attention --L 3 --H 4096 --heads 32 --kv-heads 8 --batch 3 --T 777" \
              "--variant attention --L 3 --H 512 --heads 8 --kv-heads 1 --batch 2 --T 100" \
              "--variant paged --L 3 --H 1024 --heads 8 --kv-heads 2 --batch 2 --page-size 128 --T 1000"; do
    timeout 60 $b $args --warmup 2 --repeats 5 > /tmp/c.json 2> /tmp/c.err; rc=$?
    echo "$b rc=$rc $(rate /tmp/c.json) :: $args :: $(grep error /tmp/c.err | head -c 300)"
  done
done
} > "$R/correctness.txt" 2>&1; cat "$R/correctness.txt"
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
{
  echo "pass T kv_stream old(last-block) new8(tagged,batch8) new16(tagged,batch16) (TB/s, H200)"
  for pass in A B; do
  for T in 2048 4096 8192 16384 32768; do
    line="$pass $T"
    timeout 60 $N8 --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 $OLD --variant attention $SHAPE --T $T --cluster 1 > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 $N8 --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 $N16 --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    echo "$line"
  done
  done
  K7="--L 32 --H 3584 --heads 28 --kv-heads 7 --warmup 3 --repeats 10 --T 8192"
  timeout 60 $N8 --variant kv_stream $K7 > /tmp/a.json 2>/dev/null; echo "kv7 T=8192 kv_stream $(rate /tmp/a.json)"
  for c in 1 16; do timeout 60 $OLD --variant attention $K7 --cluster $c > /tmp/a.json 2>/dev/null; echo "kv7 T=8192 old cluster=$c $(rate /tmp/a.json)"; done
  timeout 60 $N8 --variant attention $K7 > /tmp/a.json 2>/dev/null; echo "kv7 T=8192 new8 $(rate /tmp/a.json)"
  for b in OLD N8; do
    bin=${!b}; extra=""; [ $b = OLD ] && extra="--cluster 1"
    timeout 60 $bin --variant attention $SHAPE --T 8192 --batch 4 $extra > /tmp/a.json 2>/dev/null; echo "batch4 T=8192 $b $(rate /tmp/a.json)"
    timeout 60 $bin --variant paged $SHAPE --T 32768 --page-size 128 $extra > /tmp/a.json 2>/dev/null; echo "paged128 T=32768 $b $(rate /tmp/a.json)"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
timeout 300 python3 -m pytest -m gpu tests/test_gpu.py -q -x -p no:cacheprovider > "$R/pytest_gpu.log" 2>&1; echo "pytest rc=$?" >> "$R/pytest_gpu.log"; tail -5 "$R/pytest_gpu.log"
tar czf "$OUT/s2.tgz" -C "$OUT" s2
