# Raw outputs -> tidy rows per point -> Parquet dataset partitioned by GPU and profiler.


rule tidy_point:
    input:
        bench=raw_file("bench.json"),
        ncu=raw_file("ncu_raw.csv") if NCU["enabled"] else [],
        nsys=raw_file("nsys") if NSYS else [],
        provenance=provenance_file,
    output:
        "results/{gpu}/parsed/{point}.parquet",
    log:
        "results/{gpu}/logs/tidy/{point}.log",
    conda:
        "../envs/pdprof.yaml"
    script:
        "../scripts/tidy.py"


rule dataset:
    input:
        expand("results/{{gpu}}/parsed/{point}.parquet", point=POINTS),
    output:
        expand(
            "results/dataset/gpu={{gpu}}/profiler={profiler}/part-0.parquet",
            profiler=PROFILERS,
        ),
    log:
        "results/{gpu}/logs/dataset.log",
    conda:
        "../envs/pdprof.yaml"
    params:
        profilers=PROFILERS,
    script:
        "../scripts/dataset.py"
