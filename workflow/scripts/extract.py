from pruneinterp.activations import extract
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    extract(snakemake.input.checkpoint, snakemake.input.probe, snakemake.output.activations, p.layers,
            p.batch_size, p.device, n_images=p.get("n_images"))
