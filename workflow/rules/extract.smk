rule extract_activations:
    input:
        checkpoint=extract_checkpoint,
        probe=DATA.probe,
    output:
        # extract.keep: false -> deleted once every consumer ran (paper scale: 25 GB per checkpoint)
        activations=kept(f"{{run}}/{paths.ACTIVATIONS}", config["extract"]["keep"]),
    params:
        layers=config["extract"]["layers"],
        batch_size=config["extract"]["batch_size"],
        device=config["device"],
    resources:
        **RES.rule(EXTRACT),
    log:
        paths.log("{run}", "extract"),
    benchmark:
        paths.benchmark("{run}", "extract"),
    conda:
        ENV
    script:
        "../scripts/extract.py"
