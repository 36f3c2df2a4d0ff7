#!/bin/bash
# Session script: GPU tests of the attention paths after the review mends, at the commit given.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
R="$OUT/review"; mkdir -p "$R"
nvidia-smi -L > "$R/nvidia-smi.txt" 2>&1
timeout 140 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -k "persistent or paged or batches or head_dim or every_variant or overlapping" > "$R/pytest_gpu.log" 2>&1; tail -3 "$R/pytest_gpu.log"
