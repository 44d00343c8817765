from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.dissection import ground_truth
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    ground_truth(probe_dir=snakemake.input.probe, out=snakemake.output.table, cfg=p.ground_truth, quantile=p.quantile,
                 iou_threshold=p.iou_threshold, activations_out=snakemake.output.activations)
