rule prune:
    input:
        checkpoint=prune_input,
    output:
        mask=f"{RUN_DIR}/mask.pt",
    params:
        prune=study_prune_params,
    priority: chain_priority
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/{study}/{model}/seed{seed}/{method}/{schedule}/{retrain}/level{level}/prune.log",
    benchmark:
        "logs/{study}/{model}/seed{seed}/{method}/{schedule}/{retrain}/level{level}/prune.bench.tsv",
    conda:
        ENV
    script:
        "../scripts/prune.py"


rule retrain:
    input:
        mask=f"{RUN_DIR}/mask.pt",
        rewind=rewind_input,
        train=f"{DATA}/train.npz",
        val=f"{DATA}/val.npz",
    output:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        metrics=f"{RUN_DIR}/metrics.csv",
    params:
        train=train_params(),
        device=config["device"],
    priority: chain_priority
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/{study}/{model}/seed{seed}/{method}/{schedule}/{retrain}/level{level}/retrain.log",
    benchmark:
        "logs/{study}/{model}/seed{seed}/{method}/{schedule}/{retrain}/level{level}/retrain.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/retrain.py"
