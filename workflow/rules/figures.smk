# Study tables (Contract 3) and one rule with one output file per format for every paper figure and
# table, so a single one can be rebuilt alone:
#   snakemake --cores 2 vrs_fig2        (or the file: results/figures/vrs_fig2.png)
# Each figure reads its study's tidy tables and its own `figures.<name>` config section only.


rule study_tables:
    input:
        metrics=study_metrics,
        checkpoints=study_checkpoints,
    output:
        accuracy=f"{RESULTS}/{{study}}/tables/accuracy.csv",
        sparsity=f"{RESULTS}/{{study}}/tables/sparsity.csv",
    params:
        runs=study_runs_params,
        prune=study_prunable_params,
    log:
        f"logs/{{study}}/tables.log",
    conda:
        ENV
    script:
        "../scripts/study_tables.py"


for _fig, _spec in FIGURES.items():

    rule:
        name:
            _fig
        input:
            **figure_inputs(_fig),
        output:
            report(
                figure_files(_fig),
                caption=f"../report/{_fig}.rst",
                category=_spec["paper"],
            ),
        params:
            name=_fig,
            figure=canonical(config["figures"][_fig]),
            dpi=config["figures"]["dpi"],
        log:
            f"logs/figures/{_fig}.log",
        conda:
            ENV
        script:
            "../scripts/figure.py"
