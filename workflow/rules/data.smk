if config["data"]["source"] == "shapes":

    rule generate_data:
        output:
            train=TRAIN_FILE,
            val=VAL_FILE,
            probe=directory(PROBE_DIR),
        params:
            data=canonical({k: v for k, v in config["data"].items()
                            if k in ("source", "seed", "n_train", "n_val", "n_probe", "shapes")}),
        log:
            f"logs/data/{config['data']['source']}.log",
        benchmark:
            f"logs/data/{config['data']['source']}.bench.tsv"
        conda:
            ENV
        script:
            "../scripts/generate_data.py"

else:

    # ImageNet / CIFAR as ImageFolder trees on disk: index each split once (path, target, class,
    # size); the probe is the user's Broden directory (broden1_224 / broden1_227), read in place.
    rule index_data:
        output:
            train=TRAIN_FILE,
            val=VAL_FILE,
        params:
            train_dir=config["data"]["train_dir"],
            val_dir=config["data"]["val_dir"],
            image_size=config["data"]["image_size"],
        resources:
            mem_mb=4000,
            runtime=60,
        log:
            f"logs/data/{config['data'].get('name') or config['data']['source']}.log",
        conda:
            ENV
        script:
            "../scripts/index_data.py"
