from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import stages
from pruneinterp.workflow import job

# DataLoader workers: read from the config, not a rule param (results do not depend on them)
with job(snakemake):
    p = snakemake.params
    stages.train_dense(train_path=snakemake.input.train, val_path=snakemake.input.val, out=dict(snakemake.output.items()),
                       model=p.model["arch"], model_kwargs=p.model["kwargs"], train_cfg=p.train,
                       seed=int(snakemake.wildcards.seed), rewind_iteration=p.rewind_iteration, device=p.device,
                       workers=snakemake.config["train"]["workers"])
