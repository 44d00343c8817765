from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    w, p = snakemake.wildcards, snakemake.params.retrain
    stages.retrain(snakemake.input.mask, snakemake.input.train, snakemake.input.val, dict(snakemake.output.items()),
                   p["strategy"], p["train"], int(w.seed),
                   {"study": w.study, "model": w.model, "method": w.method, "schedule": w.schedule,
                    "retrain": w.retrain},
                   snakemake.input.get("rewind"), p["finetune"], snakemake.params.device)
