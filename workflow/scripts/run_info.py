from pruneinterp.workflow import job, run_info

with job(snakemake):
    run_info(out=snakemake.output[0], repo=snakemake.params.repo)
