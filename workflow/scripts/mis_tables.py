import pandas as pd

from pruneinterp import tables
from pruneinterp.workflow import job

with job(snakemake):
    accuracy = pd.read_csv(snakemake.input.accuracy)
    runs = [{**run, "backend": snakemake.params.backend} for run in snakemake.params.runs]  # tables name it
    tables.run_table(snakemake.input.mis, runs, snakemake.output.mis, accuracy)
    tables.run_table(snakemake.input.classes, snakemake.params.runs, snakemake.output.classes, accuracy)
