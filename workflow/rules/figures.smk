# Study tables (Contract 3) and one rule with one output file per format for every paper figure and
# table (pruneinterp.figures.spec), so a single one can be rebuilt alone:
#   snakemake --cores 2 vrs_fig2        (or the file: results/figures/vrs_fig2.png)
# Each figure reads its study's tidy tables and its own `figures.<name>` settings only.


rule study_tables:
    input:
        metrics=per_run(paths.METRICS),
        checkpoints=per_run(paths.CHECKPOINT),
    output:
        accuracy=STUDY_TABLE["accuracy"],
        sparsity=STUDY_TABLE["sparsity"],
    params:
        runs=study_runs_params,
        prune=study_prunable_params,
    log:
        "logs/{study}/tables.log",
    conda:
        ENV
    script:
        "../scripts/study_tables.py"


for _fig, _spec in FIGURES.items():

    rule:
        name:
            _fig
        input:
            **PLAN.figure_inputs(_fig),
        output:
            report(
                PLAN.figure_files(_fig),
                caption=f"../report/{_fig}.rst",
                category=_spec.paper,
            ),
        params:
            name=_fig,
            figure=PLAN.figure_params(_fig),
            dpi=config["figures"]["dpi"],
        log:
            f"logs/figures/{_fig}.log",
        conda:
            ENV
        script:
            "../scripts/figure.py"


rule summary:
    # the verdict page: each paper's claims against this run's tables (pruneinterp.verdicts)
    input:
        PLAN.summary_inputs(),
    output:
        md=paths.SUMMARY_MD,
        html=report(paths.SUMMARY_HTML, caption="../report/summary.rst", category="Verdicts"),
    log:
        "logs/summary.log",
    conda:
        ENV
    script:
        "../scripts/summary.py"


for _gallery in PLAN.galleries():

    rule:
        # one unit gallery (pruneinterp.gallery): a seed's pruning chain, one job
        name:
            "gallery_" + _gallery.removeprefix(paths.RESULTS + "/gallery/").replace("/", "_")
        input:
            **PLAN.gallery_inputs(_gallery),
        output:
            html=report(f"{_gallery}/{paths.GALLERY_INDEX}", caption="../report/gallery.rst", category="Galleries"),
            png=directory(f"{_gallery}/png"),
        params:
            **PLAN.gallery_params(_gallery),
        log:
            f"logs/{_gallery.removeprefix(paths.RESULTS + '/')}/gallery.log",
        conda:
            ENV
        script:
            "../scripts/gallery.py"


rule provenance:
    # what produced the results (commit, CPU/GPU, versions, config); remade whenever a figure is
    input:
        [f for name in FIGURES if PLAN.figure_enabled(name) for f in PLAN.figure_files(name)],
    output:
        paths.PROVENANCE,
    params:
        repo=workflow.basedir,
        config=config,
    log:
        "logs/provenance.log",
    conda:
        ENV
    script:
        "../scripts/provenance.py"
