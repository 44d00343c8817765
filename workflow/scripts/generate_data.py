from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    d = snakemake.params.data
    stages.make_data(out_dir=snakemake.output.probe.rsplit("/", 1)[0], n_train=d["n_train"], n_val=d["n_val"],
                     n_probe=d["n_probe"], seed=d["seed"], spec=d["shapes"])
