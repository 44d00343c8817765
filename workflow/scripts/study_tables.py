from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import tables
from pruneinterp.workflow import job

with job(snakemake):
    runs, prune = snakemake.params.runs, snakemake.params.prune
    tables.accuracy_table(metrics_paths=snakemake.input.metrics, runs=runs, out=snakemake.output.accuracy)
    tables.sparsity_table(checkpoint_paths=snakemake.input.checkpoints, runs=runs, out=snakemake.output.sparsity,
                          include=prune.get("include"), exclude=prune.get("exclude"))
