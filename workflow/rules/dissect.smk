rule dissect:
    input:
        activations=f"{{run}}/{paths.ACTIVATIONS}",
        probe=DATA.probe,
    output:
        units=f"{{run}}/{paths.DISSECTION}",
        iou=f"{{run}}/{paths.DISSECTION_IOU}",
        bootstrap=f"{{run}}/{paths.DISSECTION_BOOTSTRAP}",
    params:
        dissect=PLAN.dissect_params(),
        device=config["device"],
    resources:
        mem_mb=4000,
        runtime=30,
        **RES.rule(ANALYSIS),  # one GPU where resources.gpus > 0 (device cuda)
    log:
        paths.log("{run}", "dissect"),
    benchmark:
        paths.benchmark("{run}", "dissect"),
    conda:
        ENV
    script:
        "../scripts/dissect.py"


rule study_dissection_tables:
    input:
        dissections=per_run(paths.DISSECTION),
        bootstrap=per_run(paths.DISSECTION_BOOTSTRAP),
        accuracy=STUDY_TABLE["accuracy"],
        probe=DATA.probe,
    output:
        units=STUDY_TABLE["units"],
        summary=STUDY_TABLE["summary"],
        bootstrap=STUDY_TABLE["bootstrap"],
    params:
        runs=study_runs_params,
    log:
        "logs/{study}/dissection_tables.log",
    conda:
        ENV
    script:
        "../scripts/dissection_tables.py"


# Reference networks outside the pruning chains: each seed's randomly initialised network (the dense
# run's init.pt), extracted and dissected by the same rules (run = results/dense/{model}/seed{s}/random_init).
rule study_dissection_baseline:
    input:
        dissections=per_baseline(paths.DISSECTION),
        bootstrap=per_baseline(paths.DISSECTION_BOOTSTRAP),
        probe=DATA.probe,
    output:
        baseline=STUDY_TABLE["baseline"],
    params:
        runs=study_baseline_params,
    log:
        "logs/{study}/dissection_baseline.log",
    conda:
        ENV
    script:
        "../scripts/dissection_baseline.py"


# Validation on planted units (exact concept detectors and noise), dissected with the same code.
rule ground_truth:
    input:
        probe=DATA.probe,
    output:
        table=paths.GROUND_TRUTH,
        activations=paths.GROUND_TRUTH_ACTIVATIONS,
    params:
        ground_truth=PLAN.ground_truth_params(),
        quantile=config["dissect"]["quantile"],
        iou_threshold=config["dissect"]["iou_threshold"],
    log:
        "logs/validation/ground_truth.log",
    benchmark:
        "logs/validation/ground_truth.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/ground_truth.py"
