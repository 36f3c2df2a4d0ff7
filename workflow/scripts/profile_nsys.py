"""Rule profile_nsys: one sweep point under Nsight Systems (CUDA API + NVTX trace).

Without Snakemake: python workflow/scripts/profile_nsys.py BINARY --point POINT_ID --out-dir DIR
"""

import sys

import _bootstrap  # noqa: F401 -- the in-repo package, installed or not

from pdprof.cli import main

if "snakemake" in globals():
    sm = snakemake  # noqa: F821 -- injected by Snakemake
    # one console line per point and tool: progress through a long sweep, details in the log
    print(f"pdprof: point {sm.params.progress} {sm.wildcards.point}: Nsight Systems", flush=True)
    argv = ["profile-nsys", sm.input.binary, "--point", sm.wildcards.point, "--out-dir", sm.output[0]]
    argv += ["--warmup", str(sm.params.warmup), "--repeats", str(sm.params.repeats)]
    argv += ["--timeout", str(sm.params.timeout), "--optional"]
    # a GPU of its own when several jobs run at once (--resources gpu=N); under SLURM, its allocation's
    argv += ["--gpu-slots", "results/.gpu-slots"]
    sys.exit(main(argv, log=sm.log[0]))
sys.exit(main(["profile-nsys", *sys.argv[1:]]))
