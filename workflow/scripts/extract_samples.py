from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.activations import extract_samples
from pruneinterp.workflow import job

with job(snakemake):
    p, s = snakemake.params, snakemake.params.sampling
    extract_samples(checkpoint=snakemake.input.checkpoint, probe_dir=snakemake.input.probe,
                    out=snakemake.output.samples, layers=s["layers"], batch_size=p.batch_size, device=p.device,
                    n_images=s["n_images"], conv=s["conv"], max_samples=s["max_samples"], seed=s["seed"])
