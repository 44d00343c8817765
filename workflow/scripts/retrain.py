from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.launch import run_stage
from pruneinterp.workflow import job, launch_options

# DataLoader workers: read from the config, not a rule param (results do not depend on them)
with job(snakemake):  # in resources.processes torchrun processes where more than 1 (pruneinterp.launch)
    w, p = snakemake.wildcards, snakemake.params.retrain
    run_stage("retrain", dict(
        pruned_path=snakemake.input.pruned, train_path=snakemake.input.train, val_path=snakemake.input.val,
        out=dict(snakemake.output.items()), strategy=p["strategy"], train_cfg=p["train"], finetune=p["finetune"],
        seed=int(w.seed), ident={"study": w.study, "model": w.model, "method": w.method, "schedule": w.schedule,
                                 "retrain": w.retrain},
        rewind_path=snakemake.input.get("rewind"), device=snakemake.params.device,
        workers=snakemake.config["train"]["workers"]), **launch_options(snakemake))
