# Nsight Systems timeline per point: launch gaps, GPU busy fraction, cold start.
# A missing or failing nsys is one line in the log and an nsys_skipped.txt; the run goes on.


rule profile_nsys:
    input:
        binary=rules.build_bench.output[0],
    output:
        directory("results/{gpu}/runs/{point}/nsys"),
    log:
        "results/{gpu}/logs/nsys/{point}.log",
    conda:
        "../envs/pdprof.yaml"
    resources:
        gpu=1,
    params:
        warmup=config["run"]["warmup"],
        repeats=config["run"]["repeats"],
        timeout=config["run"]["timeout_s"],
        progress=point_progress,
    script:
        "../scripts/profile_nsys.py"
