"""Rule validate: acceptance checks on one GPU's dataset -> validation.json, report.md, report.html.

Without Snakemake: python workflow/scripts/validate.py results/dataset --out-dir results/{gpu}/report
"""

import json
import sys
from pathlib import Path

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    argv = ["validate", *sm.input.dataset, "--out-dir", str(Path(sm.output.json).parent)]
    argv += ["--figures-dir", str(Path(sm.input.figures[0]).parent)]
    argv += ["--calibration", sm.input.calibration] if sm.input.calibration else []
    argv += ["--thresholds-json", json.dumps(dict(sm.params.thresholds))]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["validate", *sys.argv[1:]]))
