"""Rule calibrate: measure the GPU's copy/read bandwidth, FP32 FMA and FP16 GEMM rates (CuPy).

Without Snakemake: python workflow/scripts/calibrate.py --out calibration.json
"""

import sys

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    argv = ["calibrate", "--out", sm.output[0], "--gpu-slots", "results/.gpu-slots", "--optional"]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["calibrate", *sys.argv[1:]]))
