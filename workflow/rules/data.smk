rule generate_data:
    output:
        train=f"{DATA}/train.npz",
        val=f"{DATA}/val.npz",
        probe=directory(f"{DATA}/probe"),
    params:
        data=canonical(config["data"]),
    log:
        f"logs/data/{config['data']['source']}.log",
    benchmark:
        f"logs/data/{config['data']['source']}.bench.tsv"
    conda:
        ENV
    script:
        "../scripts/generate_data.py"
