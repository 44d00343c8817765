import pandas as pd

from pruneinterp import tables
from pruneinterp.workflow import job

with job(snakemake):
    accuracy = pd.read_csv(snakemake.input.accuracy) if "accuracy" in snakemake.input.keys() else None
    tables.similarity_table(snakemake.input.tables, snakemake.params.runs, snakemake.output.table, accuracy)
