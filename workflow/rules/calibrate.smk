# The GPU's own ceilings (copy/read bandwidth, FP32 FMA and FP16 GEMM rates), measured with CuPy:
# the peaks validation and the roofline judge against, datasheet values only as a fallback.


rule calibrate:
    output:
        "results/{gpu}/calibration.json",
    log:
        "results/{gpu}/logs/calibrate.log",
    conda:
        "../envs/pdprof.yaml"
    resources:
        gpu=1,
    script:
        "../scripts/calibrate.py"
