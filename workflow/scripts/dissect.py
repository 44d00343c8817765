from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    d = dict(snakemake.params.dissect)
    layers = d.pop("layers")
    stages.dissect(activations=snakemake.input.activations, probe_dir=snakemake.input.probe,
                   out=snakemake.output.units, cfg=d, layers=layers, device=snakemake.params.device,
                   iou_out=snakemake.output.iou, bootstrap_out=snakemake.output.bootstrap)
