# Mechanistic Interpretability Score (von Rad & Seuffert 2024): every run of a study with `mis: true`.


rule mis:
    input:
        activations=f"{{run}}/{paths.ACTIVATIONS}",
        probe=DATA.probe,
    output:
        table=f"{{run}}/{paths.MIS}",
        classes=f"{{run}}/{paths.CLASS_ACCURACY}",
    params:
        mis=PLAN.section_params("mis"),
        device=config["device"],
    resources:
        mem_mb=4000,
        runtime=30,
        **RES.rule(ANALYSIS),  # one GPU where resources.gpus > 0 (device cuda)
    log:
        paths.log("{run}", "mis"),
    benchmark:
        paths.benchmark("{run}", "mis"),
    conda:
        ENV
    script:
        "../scripts/mis.py"


rule study_mis_tables:
    input:
        mis=per_run(paths.MIS),
        classes=per_run(paths.CLASS_ACCURACY),
        accuracy=STUDY_TABLE["accuracy"],
    output:
        mis=STUDY_TABLE["mis"],
        classes=STUDY_TABLE["classes"],
    params:
        runs=study_runs_params,
        backend=config["mis"]["backend"],
    log:
        "logs/{study}/mis_tables.log",
    conda:
        ENV
    script:
        "../scripts/mis_tables.py"
