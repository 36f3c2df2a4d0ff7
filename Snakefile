# Entry point: `snakemake --cores 1`. Configuration, backend choice and the rules
# live in workflow/ (Snakemake's standard layout); the default target is here
# because Snakemake takes it from the first rule of the main Snakefile.


include: "workflow/Snakefile"


rule all:
    input:
        expand(
            "results/{gpu}/report/{name}",
            gpu=GPU,
            name=["validation.json", "report.md", "report.html"],
        ),
