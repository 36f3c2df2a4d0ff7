"""Target reproduce: redraw the published figures from the committed captures and compare their data.

Prints one line per figure and exits non-zero, naming the figure, the column and the worst
difference, when a figure's data differs from published/ beyond its tolerance.

Without Snakemake: python workflow/scripts/reproduce.py [--captures DIR] [--published DIR] [--out-dir DIR]
"""

import json
import sys

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    argv = ["reproduce", "--captures", str(sm.params.captures), "--published", str(sm.params.published)]
    argv += ["--out-dir", sm.params.out_dir, "--table", sm.log[0]]
    argv += ["--thresholds-json", json.dumps(dict(sm.params.thresholds))]
    # The table is this target's result, so it goes to the console (not main's log); --table keeps a copy.
    sys.exit(main(argv))
sys.exit(main(["reproduce", *sys.argv[1:]]))
