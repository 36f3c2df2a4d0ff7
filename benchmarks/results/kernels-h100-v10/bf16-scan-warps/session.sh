set -o pipefail
source .carry/activate.sh
export PYTHONPATH=$PWD/src:$PYTHONPATH PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1; cat "$OUT/gpu.txt"
SECONDS=0
timeout 480 python3 benchmarks/side_by_side.py --out /tmp/sbs --build bw8=-DPDPROF_PERSISTENT_BF16_SCAN_WARPS=8 \
  \
  --pair attention:kv_stream --pair attention_fp8:kv_stream_fp8 --T 2048 4096 8192 16384 32768 > "$OUT/sbs.txt" 2>&1; echo "sbs rc=$? ${SECONDS}s"
grep -v "^{" "$OUT/sbs.txt" | tail -42
cp /tmp/sbs/rows.json "$OUT/" 2>/dev/null; true
