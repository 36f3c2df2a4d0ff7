# One job per sweep point and tool; GPU jobs hold the `gpu` resource so that two
# measurements never share a card.


rule provenance:
    output:
        "results/{gpu}/provenance.json",
    log:
        "results/{gpu}/logs/provenance.log",
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
    params:
        warmup=config["run"]["warmup"],
        repeats=config["run"]["repeats"],
        timeout=config["run"]["timeout_s"],
    resources:
        gpu=1,
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
    params:
        settings=NCU,
        warmup=config["run"]["warmup"],
        timeout=config["run"]["timeout_s"],
    resources:
        gpu=1,
    script:
        "../scripts/profile_ncu.py"
