"""Rule provenance: record card, driver, toolkit and profiler versions, git revision, time.

Without Snakemake: python workflow/scripts/provenance.py --backend cuda --out provenance.json
"""

import sys

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    argv = ["provenance", "--backend", sm.params.backend, "--out", sm.output[0]]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["provenance", *sys.argv[1:]]))
