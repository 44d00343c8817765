from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp import stages
from pruneinterp.workflow import job

# DataLoader workers: read from the config, not a rule param (results do not depend on them)
with job(snakemake):
    w, p = snakemake.wildcards, snakemake.params.retrain
    out = snakemake.output
    stages.prune(checkpoint=snakemake.input.checkpoint, out=out.pruned, seed=int(w.seed), **snakemake.params.prune)
    stages.retrain(pruned_path=out.pruned, train_path=snakemake.input.train, val_path=snakemake.input.val,
                   out={"checkpoint": out.checkpoint, "metrics": out.metrics}, strategy=p["strategy"],
                   train_cfg=p["train"], finetune=p["finetune"], seed=int(w.seed),
                   ident={"study": w.study, "model": w.model, "method": w.method, "schedule": "iterative",
                          "retrain": w.retrain},
                   rewind_path=snakemake.input.get("rewind"), device=snakemake.params.device,
                   workers=snakemake.config["train"]["workers"])
