from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
import pandas as pd

from pruneinterp import tables
from pruneinterp.workflow import job

with job(snakemake):
    accuracy = pd.read_csv(snakemake.input.accuracy)
    runs = [{**run, "backend": snakemake.params.backend} for run in snakemake.params.runs]  # tables name it
    tables.run_table(paths=snakemake.input.mis, runs=runs, out=snakemake.output.mis, accuracy=accuracy)
    tables.run_table(paths=snakemake.input.classes, runs=snakemake.params.runs, out=snakemake.output.classes,
                     accuracy=accuracy)
