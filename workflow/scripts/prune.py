from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params.prune
    stages.prune(snakemake.input.checkpoint, snakemake.output.mask, p["method"], p["fraction"], p.get("include"),
                 p.get("exclude"), int(snakemake.wildcards.seed), p.get("layer_scale"), p["level"])
