# One job per sweep point and tool; GPU jobs hold the `gpu` resource so that two
# measurements never share a card. With --resources gpu=N, each of the N concurrent jobs
# claims a GPU of its own (src/pdprof/gpuslots.py, locks in results/.gpu-slots/); under
# SLURM each job uses the GPU of its allocation.


# On a cluster (profiles/slurm), the rules that hold no GPU run where snakemake runs, unless
# PDPROF_SLURM_CPU_PARTITION names a partition to submit them to. Locally this changes nothing.
if not os.environ.get("PDPROF_SLURM_CPU_PARTITION"):

    localrules:
        tidy_point,
        dataset,
        figures,
        validate,
        reproduce,


rule provenance:
    output:
        "results/{gpu}/provenance.json",
    log:
        "results/{gpu}/logs/provenance.log",
    conda:
        "../envs/pdprof.yaml"
    params:
        backend=BACKEND.kind,
    script:
        "../scripts/provenance.py"


rule bench:
    input:
        binary=rules.build_bench.output[0],
    output:
        "results/{gpu}/runs/{point}/bench.json",
    log:
        "results/{gpu}/logs/bench/{point}.log",
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
        "../scripts/bench.py"


rule profile_ncu:
    input:
        binary=rules.build_bench.output[0],
    output:
        report="results/{gpu}/runs/{point}/ncu.ncu-rep",
        details="results/{gpu}/runs/{point}/ncu_details.csv",
        raw="results/{gpu}/runs/{point}/ncu_raw.csv",
        stdout="results/{gpu}/runs/{point}/ncu_stdout.txt",
        command="results/{gpu}/runs/{point}/ncu_command.json",
    log:
        "results/{gpu}/logs/ncu/{point}.log",
    conda:
        "../envs/pdprof.yaml"
    resources:
        gpu=1,
    params:
        settings=NCU,
        warmup=config["run"]["warmup"],
        timeout=config["run"]["timeout_s"],
        progress=point_progress,
    script:
        "../scripts/profile_ncu.py"
