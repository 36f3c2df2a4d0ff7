"""Rule dataset: merge per-point Parquet files into results/dataset/gpu=<slug>/profiler=<tool>/.

Without Snakemake: python workflow/scripts/dataset.py POINT.parquet... --root results/dataset \
    --gpu SLUG --profiler bench --profiler ncu
"""

import sys
from pathlib import Path

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    root = Path(sm.output[0]).parents[2]  # <root>/gpu=<slug>/profiler=<tool>/part-0.parquet
    argv = ["dataset", *sm.input, "--root", str(root), "--gpu", sm.wildcards.gpu]
    for profiler in sm.params.profilers:
        argv += ["--profiler", profiler]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["dataset", *sys.argv[1:]]))
