set -o pipefail
source .carry/activate.sh
export PYTHONPATH=$PWD/src:$PYTHONPATH PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1; cat "$OUT/gpu.txt"
git rev-parse HEAD > "$OUT/commit.txt"; git diff > "$OUT/working-tree.diff"
SECONDS=0
timeout 420 python3 benchmarks/side_by_side.py --out /tmp/sbs \
  --build probe=-DPDPROF_PERSISTENT_PROBE \
  --build fws1=-DPDPROF_PERSISTENT_FP8_WINDOW_SCALE=1 \
  --build if1=-DPDPROF_PERSISTENT_IN_FLIGHT=1 \
  --build if3=-DPDPROF_PERSISTENT_IN_FLIGHT=3 \
  --pair attention_fp8:kv_stream_fp8 --T 4096 8192 16384 --rounds 2 > "$OUT/sbs.txt" 2>&1; echo "sbs rc=$? ${SECONDS}s"
grep -v "^{" "$OUT/sbs.txt" | grep -v "^+" | grep -v "^probe" | tail -16
grep "^probe" "$OUT/sbs.txt" | head -3 | cut -c1-400
timeout 100 python3 benchmarks/side_by_side.py --out /tmp/sbs2 --build probe=-DPDPROF_PERSISTENT_PROBE \
  --pair attention:kv_stream --T 4096 8192 --rounds 1 > "$OUT/sbs_bf16.txt" 2>&1; echo "sbs2 rc=$? ${SECONDS}s"
cp /tmp/sbs/rows.json "$OUT/rows.json" 2>/dev/null; cp /tmp/sbs2/rows.json "$OUT/rows_bf16.json" 2>/dev/null; true
(cuobjdump -sass /tmp/sbs/bench-base 2>/dev/null || /usr/local/cuda/bin/cuobjdump -sass /tmp/sbs/bench-base) | gzip > "$OUT/bench-base.sass.gz"; ls -la "$OUT"
