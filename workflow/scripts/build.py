"""Rule build_bench: compile the benchmark.

Without Snakemake: python workflow/scripts/build.py --backend cuda \
    --source kernels/prefill_decode_bench.cu --out bin/prefill_decode_bench [--arch sm_90]
"""

import sys

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    argv = ["build", "--backend", sm.params.backend, "--source", sm.input.source]
    argv += ["--out", sm.output[0], "--arch", sm.params.arch]
    argv += [f"--flag={flag}" for flag in sm.params.flags]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["build", *sys.argv[1:]]))
