# prune (level k's pruned network: mask and masked weights) and retrain (one strategy per run).
# Iterative schedules prune level k-1's retrained network and retrain it in the same job; one-shot
# schedules prune the dense network straight to target k, once for all retraining strategies.
ITERATIVE_DIR = paths.run_dir(**{**W, "schedule": "iterative"})


rule prune_retrain:
    # an iterative level is pruned and retrained in one job: its pruned network feeds only its own
    # retraining, and one job instead of two saves a process start-up (~3 s of Python and torch) per level
    input:
        unpack(prune_retrain_input),
    output:
        pruned=f"{ITERATIVE_DIR}/{paths.PRUNED}",
        checkpoint=f"{ITERATIVE_DIR}/{paths.CHECKPOINT}",
        metrics=f"{ITERATIVE_DIR}/{paths.METRICS}",
    params:
        prune=prune_params("iterative"),
        retrain=retrain_params,
        device=config["device"],
        **RES.launch_params(),
    priority: chain_priority
    threads: RES.threads(TRAINING)
    resources:
        **RES.rule(TRAINING),
    log:
        paths.log(ITERATIVE_DIR, "retrain"),
    benchmark:
        paths.benchmark(ITERATIVE_DIR, "retrain")
    conda:
        ENV
    script:
        "../scripts/prune_retrain.py"


rule prune_oneshot:
    input:
        checkpoint=prune_input("oneshot"),
    output:
        pruned=f"{ONESHOT_DIR}/{paths.PRUNED}",
    params:
        prune=prune_params("oneshot"),
    priority: chain_priority
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        paths.log(ONESHOT_DIR, "prune"),
    benchmark:
        paths.benchmark(ONESHOT_DIR, "prune")
    conda:
        ENV
    script:
        "../scripts/prune.py"


rule retrain:  # the strategies of a one-shot level share its pruned network
    wildcard_constraints:
        schedule="oneshot",
    input:
        unpack(retrain_input),
    output:
        checkpoint=f"{RUN_DIR}/{paths.CHECKPOINT}",
        metrics=f"{RUN_DIR}/{paths.METRICS}",
    params:
        retrain=retrain_params,
        device=config["device"],
        **RES.launch_params(),
    priority: chain_priority
    threads: RES.threads(TRAINING)
    resources:
        **RES.rule(TRAINING),
    log:
        paths.log(RUN_DIR, "retrain"),
    benchmark:
        paths.benchmark(RUN_DIR, "retrain")
    conda:
        ENV
    script:
        "../scripts/retrain.py"
