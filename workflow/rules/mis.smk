# Mechanistic Interpretability Score (von Rad & Seuffert 2024): every run of a study with `mis: true`.


rule mis:
    input:
        activations="{run}/activations.h5",
        probe=PROBE_DIR,
    output:
        table="{run}/mis.csv",
        classes="{run}/class_accuracy.csv",
    params:
        mis=canonical(config["mis"]),
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/{run}/mis.log",
    benchmark:
        "logs/{run}/mis.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/mis.py"


rule study_mis_tables:
    input:
        mis=study_mis_files,
        classes=study_class_files,
        accuracy=f"{RESULTS}/{{study}}/tables/accuracy.csv",
    output:
        mis=f"{RESULTS}/{{study}}/tables/mis.csv",
        classes=f"{RESULTS}/{{study}}/tables/class_accuracy.csv",
    params:
        runs=study_runs_params,
        backend=config["mis"]["backend"],
    log:
        f"logs/{{study}}/mis_tables.log",
    conda:
        ENV
    script:
        "../scripts/mis_tables.py"
