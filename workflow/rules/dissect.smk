rule dissect:
    input:
        activations="{run}/activations.h5",
        probe=f"{DATA}/probe",
    output:
        units="{run}/dissection.csv",
    params:
        layers=config["dissect"]["layers"],
        quantile=config["dissect"]["quantile"],
        iou_threshold=config["dissect"]["iou_threshold"],
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
        accuracy=f"{RESULTS}/{{study}}/tables/accuracy.csv",
        probe=f"{DATA}/probe",
    output:
        units=f"{RESULTS}/{{study}}/tables/dissection_units.csv",
        summary=f"{RESULTS}/{{study}}/tables/dissection_summary.csv",
    params:
        runs=study_runs_params,
    log:
        f"logs/{{study}}/dissection_tables.log",
    conda:
        ENV
    script:
        "../scripts/dissection_tables.py"
