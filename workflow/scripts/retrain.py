from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    w = snakemake.wildcards
    stages.retrain(snakemake.input.mask, snakemake.input.rewind, snakemake.input.train, snakemake.input.val,
                   dict(snakemake.output.items()), snakemake.params.train, int(w.seed),
                   {"study": w.study, "method": w.method, "schedule": w.schedule, "retrain": w.retrain},
                   snakemake.params.device)
