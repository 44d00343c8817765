from pruneinterp import figures
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    figures.draw(p.name, dict(snakemake.input.items()), list(snakemake.output), dpi=p.dpi, **p.figure)
