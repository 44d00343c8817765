from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    p, r = snakemake.params, snakemake.params.retrain
    stages.retrain(snakemake.input.mask, snakemake.input.train, snakemake.input.val,
                   {"checkpoint": snakemake.output.checkpoint, "metrics": snakemake.output.metrics}, r["strategy"],
                   r["train"], p.ident["seed"], {k: p.ident[k] for k in ("study", "model", "method", "schedule", "retrain")},
                   snakemake.input.get("rewind"), r["finetune"], p.device, epochs_dir=p.epochs_dir)
