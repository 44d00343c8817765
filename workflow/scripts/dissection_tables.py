from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
import pandas as pd

from pruneinterp import tables
from pruneinterp.data.broden import Probe
from pruneinterp.workflow import job

with job(snakemake):
    tables.dissection_tables(unit_paths=snakemake.input.dissections, runs=snakemake.params.runs,
                             accuracy=pd.read_csv(snakemake.input.accuracy), out_units=snakemake.output.units,
                             out_summary=snakemake.output.summary, categories=Probe(snakemake.input.probe).categories,
                             bootstrap_paths=snakemake.input.bootstrap, out_bootstrap=snakemake.output.bootstrap)
