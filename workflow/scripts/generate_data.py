from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    d = snakemake.params.data
    stages.make_data(snakemake.output.probe.rsplit("/", 1)[0], d["n_train"], d["n_val"], d["n_probe"], d["seed"],
                     d["shapes"])
