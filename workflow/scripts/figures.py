"""Rule figures: one GPU's dataset -> results/{gpu}/figures/<figure>.png, .svg and .csv.

Without Snakemake: python workflow/scripts/figures.py results/dataset --out-dir results/{gpu}/figures
"""

import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    argv = ["figures", *sm.input.dataset, "--out-dir", str(Path(sm.output.csv[0]).parent)]
    argv += ["--calibration", sm.input.calibration] if sm.input.calibration else []
    argv += ["--thresholds-json", json.dumps(dict(sm.params.thresholds))]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["figures", *sys.argv[1:]]))
