# Representation similarity (Blakeney et al. 2020): every run of a study with `similarity: true`
# against the dense model of its seed, layer by layer, on the first `similarity.n_images` probe
# images. The activations for it are temporary (cheap to re-extract, large to keep).


rule extract_similarity:
    input:
        checkpoint=extract_checkpoint,
        probe=PROBE_DIR,
    output:
        activations=temp("{run}/similarity_activations.h5"),
    params:
        layers=config["similarity"]["layers"],
        n_images=config["similarity"]["n_images"],
        batch_size=config["extract"]["batch_size"],
        device=config["device"],
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/{run}/extract_similarity.log",
    benchmark:
        "logs/{run}/extract_similarity.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/extract.py"


rule similarity:
    input:
        a="{run}/similarity_activations.h5",
        b=similarity_reference,
    output:
        table="{run}/similarity.csv",
    params:
        similarity=similarity_params(),
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/{run}/similarity.log",
    benchmark:
        "logs/{run}/similarity.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/similarity.py"


rule study_similarity_tables:
    input:
        tables=study_similarities,
        accuracy=f"{RESULTS}/{{study}}/tables/accuracy.csv",
    output:
        table=f"{RESULTS}/{{study}}/tables/similarity.csv",
    params:
        runs=study_runs_params,
    log:
        f"logs/{{study}}/similarity_tables.log",
    conda:
        ENV
    script:
        "../scripts/similarity_tables.py"


# bl_fig3: one run retrained again with a checkpoint after every epoch (the same deterministic run as
# the cached one), each compared with the network before retraining (epoch 0).
if EPOCH_RUN:

    rule retrain_epochs:
        input:
            **EPOCH_RUN["inputs"],
        output:
            checkpoints=[f"{EPOCH_RUN['dir']}/epoch{e}/checkpoint.pt" for e in range(EPOCH_RUN["epochs"] + 1)],
            checkpoint=f"{EPOCH_RUN['dir']}/checkpoint.pt",
            metrics=f"{EPOCH_RUN['dir']}/metrics.csv",
        params:
            retrain=EPOCH_RUN["params"],
            ident=EPOCH_RUN["ident"],
            epochs_dir=EPOCH_RUN["dir"],
            device=config["device"],
        threads: config["train"]["threads"]
        resources:
            mem_mb=4000,
            runtime=120,
        log:
            f"logs/{EPOCH_RUN['dir']}/retrain_epochs.log",
        conda:
            ENV
        script:
            "../scripts/retrain_epochs.py"

    rule epoch_similarity_tables:
        input:
            tables=[f"{EPOCH_RUN['dir']}/epoch{e}/similarity.csv" for e in range(EPOCH_RUN["epochs"] + 1)],
        output:
            table=f"{RESULTS}/{EPOCH_RUN['ident']['study']}/tables/similarity_epochs.csv",
        params:
            runs=[{**EPOCH_RUN["ident"], "epoch": e} for e in range(EPOCH_RUN["epochs"] + 1)],
        log:
            f"logs/{EPOCH_RUN['ident']['study']}/similarity_epochs_table.log",
        conda:
            ENV
        script:
            "../scripts/similarity_tables.py"
