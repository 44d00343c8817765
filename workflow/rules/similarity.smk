# Representation similarity (Blakeney et al. 2020): every run of a study with `similarity: true`
# against the dense model of its seed, layer by layer, on the first `similarity.n_images` probe
# images. Each checkpoint's extraction keeps only what the comparison uses, its (image, position)
# samples, so a similarity setting that does not change the samples (methods, keep, pwcca_keep,
# dims) reruns the comparisons and not the extractions.


rule extract_similarity:
    input:
        checkpoint=extract_checkpoint,
        probe=DATA.probe,
    output:
        samples=f"{{run}}/{paths.SIMILARITY_SAMPLES}",
    params:
        sampling=PLAN.similarity_sampling_params(),
        batch_size=config["extract"]["batch_size"],
        device=config["device"],
    resources:
        **RES.rule(EXTRACT),
    log:
        paths.log("{run}", "extract_similarity"),
    benchmark:
        paths.benchmark("{run}", "extract_similarity")
    conda:
        ENV
    script:
        "../scripts/extract_samples.py"


rule similarity:
    input:
        a=f"{{run}}/{paths.SIMILARITY_SAMPLES}",
        b=similarity_reference,
    output:
        table=f"{{run}}/{paths.SIMILARITY}",
    params:
        similarity=PLAN.similarity_params(),
        device=config["device"],
    resources:
        mem_mb=4000,
        runtime=30,
        **RES.rule(ANALYSIS),  # one GPU where resources.gpus > 0 (device cuda)
    log:
        paths.log("{run}", "similarity"),
    benchmark:
        paths.benchmark("{run}", "similarity")
    conda:
        ENV
    script:
        "../scripts/similarity.py"


rule study_similarity_tables:
    input:
        tables=per_run(paths.SIMILARITY),
        accuracy=STUDY_TABLE["accuracy"],
    output:
        table=STUDY_TABLE["similarity"],
    params:
        runs=study_runs_params,
    log:
        "logs/{study}/similarity_tables.log",
    conda:
        ENV
    script:
        "../scripts/similarity_tables.py"


# Figures that follow one run epoch by epoch (bl_fig3): the run retrained again with a checkpoint
# after every epoch (the same deterministic run as the cached one), each compared with the network
# before retraining (epoch 0).
EPOCH_RUN = PLAN.epoch_run
if EPOCH_RUN:

    rule retrain_epochs:
        input:
            **PLAN.retrain_inputs(EPOCH_RUN.run),
        output:
            checkpoints=[f"{d}/{paths.CHECKPOINT}" for d in EPOCH_RUN.epoch_dirs()],
            checkpoint=f"{EPOCH_RUN.dir}/{paths.CHECKPOINT}",
            metrics=f"{EPOCH_RUN.dir}/{paths.METRICS}",
        params:
            retrain=PLAN.retrain_params(EPOCH_RUN.run.retrain),
            ident=EPOCH_RUN.run.ident(),
            epochs_dir=EPOCH_RUN.dir,
            device=config["device"],
            **RES.launch_params(),
        threads: RES.threads(TRAINING)
        resources:
            **RES.rule(TRAINING, model=EPOCH_RUN.run.model, strategy=EPOCH_RUN.run.retrain),
        log:
            f"logs/{EPOCH_RUN.dir}/retrain_epochs.log",
        conda:
            ENV
        script:
            "../scripts/retrain_epochs.py"

    rule epoch_similarity_tables:
        input:
            tables=[f"{d}/{paths.SIMILARITY}" for d in EPOCH_RUN.epoch_dirs()],
        output:
            table=paths.study_table(EPOCH_RUN.run.study, "similarity_epochs"),
        params:
            runs=[{**EPOCH_RUN.run.ident(), "epoch": e} for e in range(EPOCH_RUN.epochs + 1)],
        log:
            f"logs/{EPOCH_RUN.run.study}/similarity_epochs_table.log",
        conda:
            ENV
        script:
            "../scripts/similarity_tables.py"


# Controls (Blakeney et al.'s "pruning is not compression" needs them): how similar are networks
# that nobody pruned? Each seed's dense model vs the dense models of other seeds (trained anyway by
# the studies that use them), and vs itself retrained with no pruning by the magnitude arm's strategy
# (e.g. finetune_sgd with all weights kept). Study table: results/<study>/tables/similarity_controls.csv.
DENSE_RETRAINED_DIR = f"{DENSE_DIR}/{{retrain}}"


rule retrain_dense:
    input:
        unpack(dense_retrain_input),
    output:
        checkpoint=f"{DENSE_RETRAINED_DIR}/{paths.CHECKPOINT}",
        metrics=f"{DENSE_RETRAINED_DIR}/{paths.METRICS}",
    params:
        retrain=retrain_params,
        device=config["device"],
        **RES.launch_params(),
    wildcard_constraints:
        retrain="|".join(PLAN.trained_strategies()),
    threads: RES.threads(TRAINING)
    resources:
        **RES.rule(TRAINING),
    log:
        paths.log(DENSE_RETRAINED_DIR, "retrain"),
    benchmark:
        paths.benchmark(DENSE_RETRAINED_DIR, "retrain")
    conda:
        ENV
    script:
        "../scripts/retrain_dense.py"


rule similarity_between_seeds:
    input:
        a=f"{paths.dense_dir('{model}', '{other}')}/{paths.SIMILARITY_SAMPLES}",
        b=f"{DENSE_DIR}/{paths.SIMILARITY_SAMPLES}",
    output:
        table=paths.seed_similarity_file("{model}", "{seed}", "{other}"),
    params:
        similarity=PLAN.similarity_params(),
        device=config["device"],
    wildcard_constraints:
        other=r"\d+",
    resources:
        mem_mb=4000,
        runtime=30,
        **RES.rule(ANALYSIS),  # one GPU where resources.gpus > 0 (device cuda)
    log:
        paths.log(DENSE_DIR, "similarity_seed{other}"),
    benchmark:
        paths.benchmark(DENSE_DIR, "similarity_seed{other}")
    conda:
        ENV
    script:
        "../scripts/similarity.py"


rule study_similarity_controls:
    input:
        tables=similarity_control_tables,
    output:
        table=STUDY_TABLE["similarity_controls"],
    params:
        runs=similarity_control_params,
    log:
        "logs/{study}/similarity_controls_table.log",
    conda:
        ENV
    script:
        "../scripts/similarity_tables.py"
