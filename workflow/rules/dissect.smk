rule dissect:
    input:
        activations="{run}/activations.h5",
        probe=PROBE_DIR,
    output:
        units="{run}/dissection.csv",
        iou="{run}/dissection_iou.h5",
        bootstrap="{run}/dissection_bootstrap.csv",
    params:
        dissect=dissect_params(),
        device=config["device"],
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/{run}/dissect.log",
    benchmark:
        "logs/{run}/dissect.bench.tsv",
    conda:
        ENV
    script:
        "../scripts/dissect.py"


rule study_dissection_tables:
    input:
        dissections=study_dissections,
        bootstrap=study_dissection_bootstraps,
        accuracy=f"{RESULTS}/{{study}}/tables/accuracy.csv",
        probe=PROBE_DIR,
    output:
        units=f"{RESULTS}/{{study}}/tables/dissection_units.csv",
        summary=f"{RESULTS}/{{study}}/tables/dissection_summary.csv",
        bootstrap=f"{RESULTS}/{{study}}/tables/dissection_bootstrap.csv",
    params:
        runs=study_runs_params,
    log:
        f"logs/{{study}}/dissection_tables.log",
    conda:
        ENV
    script:
        "../scripts/dissection_tables.py"


# Reference networks outside the pruning chains: each seed's randomly initialised network (the dense
# run's init.pt), extracted and dissected by the same rules (run = results/dense/{model}/seed{s}/random_init).
rule study_dissection_baseline:
    input:
        dissections=study_baseline_dissections,
        bootstrap=study_baseline_bootstraps,
        probe=PROBE_DIR,
    output:
        baseline=f"{RESULTS}/{{study}}/tables/dissection_baseline.csv",
    params:
        runs=study_baseline_params,
    log:
        f"logs/{{study}}/dissection_baseline.log",
    conda:
        ENV
    script:
        "../scripts/dissection_baseline.py"


# Validation on planted units (exact concept detectors and noise), dissected with the same code.
rule ground_truth:
    input:
        probe=PROBE_DIR,
    output:
        table=f"{RESULTS}/validation/ground_truth.csv",
        activations=f"{RESULTS}/validation/ground_truth_activations.h5",
    params:
        ground_truth=canonical(config["dissect"]["ground_truth"]),
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
