from pruneinterp.data.imagefolder import index_imagefolder
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    index_imagefolder(p.train_dir, snakemake.output.train, p.image_size)
    index_imagefolder(p.val_dir, snakemake.output.val, p.image_size)
