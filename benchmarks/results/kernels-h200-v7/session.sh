#!/bin/bash
# v7 final session 1: every GPU test and the kernel table at the commit given.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/v7"; mkdir -p "$R"
nvidia-smi > "$R/nvidia-smi.txt" 2>&1
start=$(date +%s)
timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py > "$R/pytest_gpu.log" 2>&1; echo "pytest exit $? after $(( $(date +%s) - start )) s" >> "$R/pytest_gpu.log"; tail -3 "$R/pytest_gpu.log"
start=$(date +%s)
timeout 370 python3 benchmarks/kernels.py --nsys --repeats 10 --out /tmp/v7 > "$R/kernels.log" 2>&1; echo "kernels.py exit $? after $(( $(date +%s) - start )) s" >> "$R/kernels.log"; tail -36 "$R/kernels.log"
cp /tmp/v7/kernels_table.json /tmp/v7/calibration.json "$R/" 2>/dev/null
mkdir -p "$R/json" && cp /tmp/v7/*.json "$R/json/" 2>/dev/null
cd "$OUT" && tar czf v7.tgz v7 && rm -rf v7
