from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import tables
from pruneinterp.data.broden import Probe
from pruneinterp.workflow import job

with job(snakemake):
    tables.dissection_baseline_table(unit_paths=snakemake.input.dissections, runs=snakemake.params.runs,
                                     out=snakemake.output.baseline, categories=Probe(snakemake.input.probe).categories,
                                     bootstrap_paths=snakemake.input.bootstrap)
