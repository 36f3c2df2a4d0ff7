#!/usr/bin/env python3
"""Fake benchmark: prints the capture bundle's result line of the point its flags name."""

import json
import os
import signal
import sys
import time
from pathlib import Path

args = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=True))  # flags come in pairs
point = "{}-L{}-H{}-h{}-kv{}-T{}-f{}".format(
    *(args[f] for f in ("--variant", "--L", "--H", "--heads", "--kv-heads", "--T", "--iters-fma"))
)
fault_point, _, fault = os.environ.get("PDPROF_FAKE_FAULT", "").partition(":")
if point == fault_point:
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif fault == "hang":
        time.sleep(3600)
    elif fault == "gpu-error":
        print("error: cudaMalloc failed at prefill_decode_bench.cu:212: out of memory", file=sys.stderr)
        sys.exit(3)
    elif fault == "nan":
        print("error: decode output out[7] is not finite or was not written", file=sys.stderr)
        sys.exit(4)
if args.get("--mode") == "profile":
    print(json.dumps({"schema": "pdprof.bench/1", "mode": "profile", "point": point}))
    sys.exit(0)
bundle = Path(os.environ.get("PDPROF_FAKE_CAPTURES", "captures/nvidia-h100-80gb-hbm3"))
result = json.loads((bundle / "runs" / point / "bench.json").read_text())
result.pop("command", None)  # added by pdprof, not printed by the benchmark
print(json.dumps(result))
