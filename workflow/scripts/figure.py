from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import figures
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    figures.draw(name=p.name, tables=dict(snakemake.input.items()), outputs=list(snakemake.output), dpi=p.dpi,
                 **p.figure)
