from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.launch import run_stage
from pruneinterp.workflow import job, launch_options

# DataLoader workers: read from the config, not a rule param (results do not depend on them)
with job(snakemake):  # in resources.processes torchrun processes where more than 1 (pruneinterp.launch)
    p, r = snakemake.params, snakemake.params.retrain
    run_stage("retrain", dict(
        pruned_path=snakemake.input.pruned, train_path=snakemake.input.train, val_path=snakemake.input.val,
        out={"checkpoint": snakemake.output.checkpoint, "metrics": snakemake.output.metrics},
        strategy=r["strategy"], train_cfg=r["train"], finetune=r["finetune"], seed=p.ident["seed"],
        ident={k: p.ident[k] for k in ("study", "model", "method", "schedule", "retrain")},
        rewind_path=snakemake.input.get("rewind"), device=p.device, epochs_dir=p.epochs_dir,
        workers=snakemake.config["train"]["workers"]), **launch_options(snakemake))
