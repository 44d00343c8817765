from pruneinterp import figures
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    figures.draw(name=p.name, tables=dict(snakemake.input.items()), outputs=list(snakemake.output), dpi=p.dpi,
                 **p.figure)
