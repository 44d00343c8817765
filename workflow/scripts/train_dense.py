from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    stages.train_dense(snakemake.input.train, snakemake.input.val, dict(snakemake.output.items()),
                       p.model["arch"], p.model["kwargs"], p.train, int(snakemake.wildcards.seed),
                       p.rewind_iteration, p.device)
