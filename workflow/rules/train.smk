rule train_dense:
    input:
        train=TRAIN_FILE,
        val=VAL_FILE,
    output:
        init=f"{RESULTS}/dense/{{model}}/seed{{seed}}/init.pt",
        rewind=f"{RESULTS}/dense/{{model}}/seed{{seed}}/rewind.pt",
        checkpoint=f"{RESULTS}/dense/{{model}}/seed{{seed}}/checkpoint.pt",
        metrics=f"{RESULTS}/dense/{{model}}/seed{{seed}}/metrics.csv",
    params:
        model=dense_model_params,
        train=train_params(),
        rewind_iteration=config["train"]["rewind_iteration"],
        device=config["device"],
    priority: 1000
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/dense/{model}/seed{seed}.log",
    benchmark:
        "logs/dense/{model}/seed{seed}.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/train_dense.py"
