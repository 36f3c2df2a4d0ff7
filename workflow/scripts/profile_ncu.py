"""Rule profile_ncu: one sweep point under Nsight Compute (warm-up launches not profiled).

Without Snakemake: python workflow/scripts/profile_ncu.py BINARY --point POINT_ID \
    --out-dir DIR --metrics gpu__time_duration.sum,dram__bytes_read.sum
"""

import sys
from pathlib import Path

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    # one console line per point and tool: progress through a long sweep, details in the log
    print(f"pdprof: point {sm.params.progress} {sm.wildcards.point}: Nsight Compute", flush=True)
    settings = sm.params.settings
    argv = ["profile-ncu", sm.input.binary, "--point", sm.wildcards.point]
    argv += ["--out-dir", str(Path(sm.output.report).parent)]
    argv += ["--metrics", ",".join(settings["metrics"])]
    argv += ["--clock-control", settings["clock_control"]]
    argv += ["--cache-control", settings["cache_control"]]
    argv += ["--profile-layers", str(settings["profile_layers"])]
    argv += ["--warmup", str(sm.params.warmup), "--timeout", str(sm.params.timeout)]
    # a GPU of its own when several jobs run at once (--resources gpu=N); under SLURM, its allocation's
    argv += ["--gpu-slots", "results/.gpu-slots"]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["profile-ncu", *sys.argv[1:]]))
