from pruneinterp import tables
from pruneinterp.data.broden import Probe
from pruneinterp.workflow import job

with job(snakemake):
    tables.dissection_baseline_table(unit_paths=snakemake.input.dissections, runs=snakemake.params.runs,
                                     out=snakemake.output.baseline, categories=Probe(snakemake.input.probe).categories,
                                     bootstrap_paths=snakemake.input.bootstrap)
