"""Rule bench: unprofiled timing run of one sweep point.

Without Snakemake: python workflow/scripts/bench.py BINARY --point POINT_ID --out bench.json
"""

import sys

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    # one console line per point and tool: progress through a long sweep, details in the log
    print(f"pdprof: point {sm.params.progress} {sm.wildcards.point}: timing", flush=True)
    argv = ["bench", sm.input.binary, "--point", sm.wildcards.point, "--out", sm.output[0]]
    argv += ["--warmup", str(sm.params.warmup), "--repeats", str(sm.params.repeats)]
    argv += ["--timeout", str(sm.params.timeout)]
    # a GPU of its own when several jobs run at once (--resources gpu=N); under SLURM, its allocation's
    argv += ["--gpu-slots", "results/.gpu-slots"]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["bench", *sys.argv[1:]]))
