from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    m = snakemake.params.mis
    stages.mis(snakemake.input.activations, snakemake.input.probe, snakemake.output.table, m["layers"],
               {k: m[k] for k in ("n_tasks", "k", "alpha", "pooling", "seed")}, m["backend"], m["weights"],
               snakemake.output.classes)
