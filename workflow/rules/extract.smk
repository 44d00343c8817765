rule extract_activations:
    input:
        checkpoint=extract_checkpoint,
        probe=DATA.probe,
    output:
        activations=f"{{run}}/{paths.ACTIVATIONS}",
    params:
        layers=config["extract"]["layers"],
        batch_size=config["extract"]["batch_size"],
        device=config["device"],
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        paths.log("{run}", "extract"),
    benchmark:
        paths.benchmark("{run}", "extract"),
    conda:
        ENV
    script:
        "../scripts/extract.py"
