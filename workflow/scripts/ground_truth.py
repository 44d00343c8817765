from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    g, p = snakemake.params.ground_truth, snakemake.params
    stages.ground_truth(snakemake.input.probe, snakemake.output.table, g["labels"], g["noise_units"], p.quantile,
                        p.iou_threshold, g["seed"], g["downsample"], snakemake.output.activations)
