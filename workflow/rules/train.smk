rule train_dense:
    input:
        train=DATA.train,
        val=DATA.val,
    output:
        init=f"{DENSE_DIR}/{paths.INIT}",
        rewind=f"{DENSE_DIR}/{paths.REWIND}",
        checkpoint=f"{DENSE_DIR}/{paths.CHECKPOINT}",
        metrics=f"{DENSE_DIR}/{paths.METRICS}",
    params:
        model=dense_model_params,
        train=PLAN.train_params(),
        rewind_iteration=config["train"]["rewind_iteration"],
        device=config["device"],
        **RES.launch_params(),
    priority: 1000
    threads: RES.threads(TRAINING)
    resources:
        **RES.rule(TRAINING),
    log:
        "logs/dense/{model}/seed{seed}.log",
    benchmark:
        "logs/dense/{model}/seed{seed}.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/train_dense.py"
