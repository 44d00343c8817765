from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    stages.dissect(snakemake.input.activations, snakemake.input.probe, snakemake.output.units, p.layers,
                   p.quantile, p.iou_threshold, p.device)
