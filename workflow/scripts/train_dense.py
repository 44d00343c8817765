from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.launch import run_stage
from pruneinterp.workflow import job, launch_options

# DataLoader workers: read from the config, not a rule param (results do not depend on them)
with job(snakemake):  # in resources.processes torchrun processes where more than 1 (pruneinterp.launch)
    p = snakemake.params
    run_stage("train_dense", dict(
        train_path=snakemake.input.train, val_path=snakemake.input.val, out=dict(snakemake.output.items()),
        model=p.model["arch"], model_kwargs=p.model["kwargs"], train_cfg=p.train, seed=int(snakemake.wildcards.seed),
        rewind_iteration=p.rewind_iteration, device=p.device,
        workers=snakemake.config["train"]["workers"]), **launch_options(snakemake))
