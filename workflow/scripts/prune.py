from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    stages.prune(checkpoint=snakemake.input.checkpoint, out=snakemake.output.pruned, seed=int(snakemake.wildcards.seed),
                 **snakemake.params.prune)
