from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.data.imagefolder import index_imagefolder
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    index_imagefolder(root=p.train_dir, out=snakemake.output.train, size=p.image_size)
    index_imagefolder(root=p.val_dir, out=snakemake.output.val, size=p.image_size)
