import pandas as pd

from pruneinterp import tables
from pruneinterp.workflow import job

with job(snakemake):
    accuracy = pd.read_csv(snakemake.input.accuracy)
    tables.run_table(snakemake.input.mis, snakemake.params.runs, snakemake.output.mis, accuracy)
    tables.run_table(snakemake.input.classes, snakemake.params.runs, snakemake.output.classes, accuracy)
