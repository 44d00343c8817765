from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
import pandas as pd

from pruneinterp import tables
from pruneinterp.workflow import job

with job(snakemake):
    accuracy = pd.read_csv(snakemake.input.accuracy) if "accuracy" in snakemake.input.keys() else None
    tables.similarity_table(paths=snakemake.input.tables, runs=snakemake.params.runs, out=snakemake.output.table,
                            accuracy=accuracy)
