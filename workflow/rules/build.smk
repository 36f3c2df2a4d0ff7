# Compile the single-source benchmark once per GPU architecture.


rule build_bench:
    input:
        source=KERNELS / "prefill_decode_bench.cu",
        headers=sorted(KERNELS.glob("*.h")),
    output:
        "results/{gpu}/bin/prefill_decode_bench",
    log:
        "results/{gpu}/logs/build.log",
    conda:
        "../envs/pdprof.yaml"
    params:
        backend=BACKEND.kind,
        arch=lambda wildcards: config["build"][
            "hip_arch" if BACKEND.kind == "hip" else "cuda_arch"
        ],
        flags=config["build"]["hipcc_flags" if BACKEND.kind == "hip" else "nvcc_flags"],
    script:
        "../scripts/build.py"
