from pruneinterp import tables
from pruneinterp.workflow import job

with job(snakemake):
    runs = snakemake.params.runs
    tables.accuracy_table(snakemake.input.metrics, runs, snakemake.output.accuracy)
    tables.sparsity_table(snakemake.input.checkpoints, runs, snakemake.output.sparsity,
                          snakemake.params.prune.get("include"), snakemake.params.prune.get("exclude"))
