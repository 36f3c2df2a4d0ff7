#!/bin/bash
# Session script: every GPU test, then benchmarks/kernels.py's table (with nsys), on this card.
source .carry/activate.sh
export PYTHONPATH=$PWD/src:$PYTHONPATH
F="$OUT/final"; mkdir -p "$F"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$F/gpus.txt"
echo "commit $1" >> "$F/gpus.txt"
timeout 290 python3 -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider > "$F/pytest_gpu.log" 2>&1; echo "pytest rc=$?"; tail -3 "$F/pytest_gpu.log"
(cd "$OUT" && tar czf final-tests.tgz final)
timeout 270 python3 benchmarks/kernels.py --out "$F/kernels" --nsys --repeats 10 > "$F/kernels.log" 2>&1; echo "kernels rc=$?"; tail -22 "$F/kernels.log"
rm -f "$F/kernels/prefill_decode_bench"
cd "$OUT" && tar czf final.tgz final && rm -rf final final-tests.tgz
