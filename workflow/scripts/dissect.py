from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    d = snakemake.params.dissect
    stages.dissect(snakemake.input.activations, snakemake.input.probe, snakemake.output.units, d["layers"],
                   d["quantile"], d["iou_threshold"], snakemake.params.device, iou_out=snakemake.output.iou,
                   bootstrap_out=snakemake.output.bootstrap, bootstrap=d["bootstrap"], budget=d["budget"])
