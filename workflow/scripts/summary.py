from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import paths, verdicts
from pruneinterp.workflow import job

with job(snakemake):
    verdicts.write(root=paths.RESULTS, md_out=snakemake.output.md, html_out=snakemake.output.html)
