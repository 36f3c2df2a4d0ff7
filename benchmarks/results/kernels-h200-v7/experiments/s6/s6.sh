#!/bin/bash
# v7 session 6: the persistent kernel's flag wait with several polls in flight.
# f0: one ld.acquire at a time (main); f1: 4 ld.acquire in flight, 100 ns apart; f1b: 200 ns apart;
# f2: 4 ld.relaxed in flight, then fence.acq_rel.gpu.
R="$OUT/s6"; mkdir -p "$R"
B=.carry/v7
rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['decode']; c=json.load(open(sys.argv[1]))['checks']; print(f\"{d['bytes_per_s']/1e12:.3f}(e{c['decode_reference_rel_error']:.1e})\")" "$1" 2>/dev/null || echo "fail"; }
SHAPE="--L 32 --H 4096 --heads 32 --kv-heads 8 --warmup 3 --repeats 10"
V="f0 f1 f1b f2"
{
  echo "pass T kv_stream $V (TB/s, H200)"
  for pass in A B; do
  for T in 2048 4096 8192 16384 32768; do
    line="$pass $T"
    timeout 60 $B/f0 --variant kv_stream $SHAPE --T $T > /tmp/a.json 2>/dev/null; line="$line $(rate /tmp/a.json)"
    for v in $V; do timeout 60 $B/$v --variant attention $SHAPE --T $T > /tmp/a.json 2>/tmp/a.err; line="$line $(rate /tmp/a.json)"; done
    echo "$line"
  done
  done
} > "$R/side_by_side.txt" 2>&1; cat "$R/side_by_side.txt"
tar czf "$OUT/s6.tgz" -C "$OUT" s6
