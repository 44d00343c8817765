from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import mis
from pruneinterp.workflow import job

with job(snakemake):
    m = dict(snakemake.params.mis)
    layers, backend, weights = m.pop("layers"), m.pop("backend"), m.pop("weights")
    mis.score_file(activations=snakemake.input.activations, probe_dir=snakemake.input.probe,
                   out=snakemake.output.table, cfg=m, layers=layers, backend=backend, weights=weights,
                   class_accuracy_out=snakemake.output.classes, device=snakemake.params.device)
