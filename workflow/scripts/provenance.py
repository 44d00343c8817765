from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.workflow import job, provenance

with job(snakemake):
    provenance(out=snakemake.output[0], repo=snakemake.params.repo, config=dict(snakemake.params.config))
