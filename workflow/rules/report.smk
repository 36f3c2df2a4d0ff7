# Acceptance criteria as checks -> validation.json, Markdown and HTML per GPU.


rule validate:
    input:
        dataset=rules.dataset.output,
        figures=rules.figures.output.png,
        calibration=calibration_file if CALIBRATE else [],
    output:
        json="results/{gpu}/report/validation.json",
        md="results/{gpu}/report/report.md",
        html=report(
            "results/{gpu}/report/report.html",
            caption="../report/validation.rst",
            category="Validation",
        ),
    log:
        "results/{gpu}/logs/validate.log",
    conda:
        "../envs/pdprof.yaml"
    params:
        thresholds=config["validation"],
    script:
        "../scripts/validate.py"
