set -o pipefail
source .carry/activate.sh
export PYTHONPATH=$PWD/src:$PYTHONPATH PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1; cat "$OUT/gpu.txt"
SECONDS=0
timeout 150 python3 benchmarks/side_by_side.py --out /tmp/sbs --build fw12=-DPDPROF_PERSISTENT_FP8_SCAN_WARPS=12 \
  --pair attention_fp8:kv_stream_fp8 --T 4096 8192 16384 > "$OUT/sbs.txt" 2>&1; echo "sbs rc=$? ${SECONDS}s"
grep -v "^{" "$OUT/sbs.txt" | tail -7
cp /tmp/sbs/rows.json "$OUT/" 2>/dev/null; true
