if DATA.source == "shapes":

    rule generate_data:
        output:
            train=DATA.train,
            val=DATA.val,
            probe=directory(DATA.probe),
        params:
            data=PLAN.data_params(),
        log:
            f"logs/data/{config['data']['source']}.log",
        benchmark:
            f"logs/data/{config['data']['source']}.bench.tsv"
        conda:
            ENV
        script:
            "../scripts/generate_data.py"

elif DATA.source in ("cifar10", "cifar100"):

    # CIFAR in torchvision's own files on disk -> the same train/val arrays as the generated data;
    # the probe is the user's Broden directory, read in place.
    rule convert_cifar:
        output:
            train=DATA.train,
            val=DATA.val,
        params:
            variant=DATA.source,
            root=config["data"]["cifar_dir"],
        resources:
            mem_mb=4000,
            runtime=30,
        log:
            f"logs/data/{config['data'].get('name') or config['data']['source']}.log",
        conda:
            ENV
        script:
            "../scripts/convert_cifar.py"

else:

    # ImageNet / CIFAR as ImageFolder trees on disk: index each split once (path, target, class,
    # size); the probe is the user's Broden directory (broden1_224 / broden1_227), read in place.
    rule index_data:
        output:
            train=DATA.train,
            val=DATA.val,
        params:
            train_dir=config["data"]["train_dir"],
            val_dir=config["data"]["val_dir"],
            image_size=config["data"]["image_size"],
            tree=PLAN.data.tree_params(config["data"]),  # re-index when images are added or removed
        resources:
            mem_mb=4000,
            runtime=60,
        log:
            f"logs/data/{config['data'].get('name') or config['data']['source']}.log",
        conda:
            ENV
        script:
            "../scripts/index_data.py"
