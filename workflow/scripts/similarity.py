from pruneinterp import stages
from pruneinterp.workflow import job

with job(snakemake):
    s = snakemake.params.similarity
    stages.similarity(snakemake.input.a, snakemake.input.b, snakemake.output.table, s["layers"], s["methods"],
                      s["keep"], s["dims"], s["conv"], s["max_samples"], s["seed"], pwcca_keep=s["pwcca_keep"])
