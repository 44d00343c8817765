from pruneinterp.workflow import job, provenance

with job(snakemake):
    provenance(out=snakemake.output[0], repo=snakemake.params.repo, config=dict(snakemake.params.config))
