"""Rule tidy_point: one point's raw outputs -> tidy Parquet rows with parameters and provenance.

Without Snakemake: python workflow/scripts/tidy.py --point POINT_ID --gpu SLUG \
    --bench bench.json --ncu ncu_raw.csv --nsys nsys/ --provenance provenance.json --out point.parquet
"""

import sys

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    argv = ["tidy", "--point", sm.wildcards.point, "--gpu", sm.wildcards.gpu]
    argv += ["--bench", sm.input.bench, "--provenance", sm.input.provenance]
    argv += ["--ncu", sm.input.ncu] if sm.input.ncu else []
    argv += ["--nsys", sm.input.nsys] if sm.input.nsys else []
    argv += ["--out", sm.output[0]]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["tidy", *sys.argv[1:]]))
