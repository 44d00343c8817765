from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    s = dict(snakemake.params.similarity)  # the comparison's settings; the sampling is the extraction's
    layers = s.pop("layers")
    stages.similarity(a_path=snakemake.input.a, b_path=snakemake.input.b, out=snakemake.output.table, cfg=s,
                      layers=layers, device=snakemake.params.device)
