# Figures of each GPU's dataset (PNG, SVG and the plotted data as CSV), embedded in the HTML report.
# `snakemake --cores 1 reproduce` redraws the published figures from the committed captures (no GPU)
# and compares their data with published/ (see published/README.md).
from pdprof.plots import FIGURES

# Published figures exist per GPU; reproduce checks all of them, whatever backend this run uses.
PUBLISHED = REPO / "published"
PUBLISHED_GPUS = sorted(p.name for p in PUBLISHED.glob("*") if p.is_dir())


rule figures:
    input:
        dataset=rules.dataset.output,
        calibration=calibration_file if CALIBRATE else [],
    output:
        png=[
            report(
                f"results/{{gpu}}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                subcategory="{gpu}",
            )
            for name in FIGURES
        ],
        svg=expand("results/{{gpu}}/figures/{name}.svg", name=FIGURES),
        csv=[
            report(
                f"results/{{gpu}}/figures/{name}.csv",
                caption=f"../report/{name}.rst",
                category="Figure data",
                subcategory="{gpu}",
            )
            for name in FIGURES
        ],
    log:
        "results/{gpu}/logs/figures.log",
    conda:
        "../envs/pdprof.yaml"
    params:
        thresholds=config["validation"],
    script:
        "../scripts/figures.py"


# No output: a target that compares every time it is asked for, and prints its table.
rule reproduce:
    input:
        expand(
            PUBLISHED / "{gpu}" / "{name}.csv",
            gpu=PUBLISHED_GPUS,
            name=FIGURES,
        ),
    log:
        "results/reproduce/comparison.txt",
    conda:
        "../envs/pdprof.yaml"
    params:
        captures=REPO / "captures",
        published=PUBLISHED,
        out_dir="results/reproduce",
        thresholds=config["validation"],
    script:
        "../scripts/reproduce.py"
