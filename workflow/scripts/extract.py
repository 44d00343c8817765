from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.activations import extract
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    extract(checkpoint=snakemake.input.checkpoint, probe_dir=snakemake.input.probe, out=snakemake.output.activations,
            layers=p.layers, batch_size=p.batch_size, device=p.device, n_images=p.get("n_images"))
