import pandas as pd

from pruneinterp import tables
from pruneinterp.data.broden import Probe
from pruneinterp.workflow import job

with job(snakemake):
    tables.dissection_tables(snakemake.input.dissections, snakemake.params.runs,
                             pd.read_csv(snakemake.input.accuracy), snakemake.output.units, snakemake.output.summary,
                             Probe(snakemake.input.probe).categories, snakemake.input.bootstrap,
                             snakemake.output.bootstrap)
