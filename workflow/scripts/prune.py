from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    stages.prune(checkpoint=snakemake.input.checkpoint, out=snakemake.output.pruned, seed=int(snakemake.wildcards.seed),
                 **snakemake.params.prune)
