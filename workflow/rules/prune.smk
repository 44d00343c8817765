# prune (level k's mask) and retrain (one strategy per run). Iterative schedules prune level k-1's
# retrained network; one-shot schedules prune the dense network straight to target k, once for all
# retraining strategies.


rule prune_iterative:
    input:
        checkpoint=prune_iterative_input,
    output:
        mask=RESULTS + "/{study}/{model}/seed{seed}/{method}/iterative/{retrain}/level{level}/mask.pt",
    params:
        prune=prune_iterative_params,
    priority: chain_priority
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/{study}/{model}/seed{seed}/{method}/iterative/{retrain}/level{level}/prune.log",
    benchmark:
        "logs/{study}/{model}/seed{seed}/{method}/iterative/{retrain}/level{level}/prune.bench.tsv",
    conda:
        ENV
    script:
        "../scripts/prune.py"


rule prune_oneshot:
    input:
        checkpoint=prune_oneshot_input,
    output:
        mask=ONESHOT_MASK,
    params:
        prune=prune_oneshot_params,
    priority: chain_priority
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/{study}/{model}/seed{seed}/{method}/oneshot/level{level}/prune.log",
    benchmark:
        "logs/{study}/{model}/seed{seed}/{method}/oneshot/level{level}/prune.bench.tsv",
    conda:
        ENV
    script:
        "../scripts/prune.py"


rule retrain:
    input:
        unpack(retrain_input),
    output:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        metrics=f"{RUN_DIR}/metrics.csv",
    params:
        retrain=retrain_params,
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
