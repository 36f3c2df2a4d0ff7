#!/bin/bash
# Session script: GPU tests and the kernel table at the commit given.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/v6"; mkdir -p "$R"
nvidia-smi > "$R/nvidia-smi.txt" 2>&1
timeout 240 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py > "$R/pytest_gpu.log" 2>&1; tail -3 "$R/pytest_gpu.log"
timeout 330 python3 benchmarks/kernels.py --nsys --repeats 10 --out /tmp/v6 > "$R/kernels.log" 2>&1; tail -34 "$R/kernels.log"
cp /tmp/v6/kernels_table.json /tmp/v6/calibration.json "$R/" 2>/dev/null
mkdir -p "$R/json" && cp /tmp/v6/*.json "$R/json/" 2>/dev/null
cd "$OUT" && tar czf v6.tgz v6 && rm -rf v6
