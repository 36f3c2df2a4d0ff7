#!/bin/bash
# v7 session 1: cluster occupancy, cluster-merge correctness and side-by-side timing, GPU tests.
source .carry/activate.sh
export PYTHONPATH=$PWD/src:$PYTHONPATH PDPROF_GIT_REV=$1
R="$OUT/s1"; mkdir -p "$R"
B=.carry/v7/bench
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total,driver_version --format=csv > "$R/device.txt"
.carry/v7/clusters > "$R/clusters.txt" 2>&1; cat "$R/clusters.txt"
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['decode']; c=json.load(open(sys.argv[1]))['checks']; print(f\"{d['bytes_per_s']/1e12:.3f}(c{d.get('cluster')},s{d['splits']},e{c['decode_reference_rel_error']:.1e})\")" "$1" 2>/dev/null || echo "fail"; }
# correctness first, small shapes, every cluster size
{
for c in 1 2 4 8 16 auto; do
  for args in "--variant attention --L 5 --H 1024 --heads 8 --kv-heads 2 --T 1000" \
              "--variant attention --L 3 --H 4096 --heads 32 --kv-heads 8 --batch 3 --T 777" \
              "--variant attention --L 3 --H 512 --heads 8 --kv-heads 1 --batch 2 --T 100" \
              "--variant paged --L 3 --H 1024 --heads 8 --kv-heads 2 --batch 2 --page-size 128 --T 1000"; do
    timeout 60 $B $args --cluster $c --warmup 1 --repeats 2 > /tmp/c.json 2> /tmp/c.err; rc=$?
    echo "cluster=$c rc=$rc $(rate /tmp/c.json) :: $args :: $(head -c 300 /tmp/c.err)"
  done
done
} > "$R/correctness.txt" 2>&1; cat "$R/correctness.txt"
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
{
  echo "T kv_stream attention:auto attention:cluster1 attention:layered (TB/s, H200; pass A then B)"
  for pass in A B; do
  for T in 2048 4096 8192 16384 32768; do
    line="$pass $T"
    timeout 60 $B --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 $B --variant attention $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    timeout 60 $B --variant attention $SHAPE --T $T --cluster 1 > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    [ $pass = A ] && { timeout 60 $B --variant attention $SHAPE --T $T --persistent off > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"; }
    echo "$line"
  done
  done
  for c in auto 1; do
    timeout 60 $B --variant attention $SHAPE --T 8192 --batch 4 --cluster $c > /tmp/a.json 2>/dev/null; echo "batch4 T=8192 cluster=$c $(rate /tmp/a.json)"
    timeout 60 $B --variant paged $SHAPE --T 32768 --page-size 128 --cluster $c > /tmp/a.json 2>/dev/null; echo "paged128 T=32768 cluster=$c $(rate /tmp/a.json)"
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
timeout 330 python3 -m pytest -m gpu tests/test_gpu.py -q -x -p no:cacheprovider > "$R/pytest_gpu.log" 2>&1; echo "pytest rc=$?" >> "$R/pytest_gpu.log"; tail -5 "$R/pytest_gpu.log"
tar czf "$OUT/s1.tgz" -C "$OUT" s1
