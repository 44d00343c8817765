from pruneinterp import tables
from pruneinterp.data.broden import Probe
from pruneinterp.workflow import job

with job(snakemake):
    acc = tables.accuracy_table(snakemake.input.metrics, snakemake.params.ident, snakemake.output.accuracy)
    tables.dissection_tables(snakemake.input.dissections, snakemake.params.runs, acc, snakemake.output.units,
                             snakemake.output.summary, Probe(snakemake.input.probe).categories)
