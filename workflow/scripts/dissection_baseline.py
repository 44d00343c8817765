from pruneinterp import tables
from pruneinterp.data.broden import Probe
from pruneinterp.workflow import job

with job(snakemake):
    tables.dissection_baseline_table(snakemake.input.dissections, snakemake.params.runs, snakemake.output.baseline,
                                     Probe(snakemake.input.probe).categories, snakemake.input.bootstrap)
