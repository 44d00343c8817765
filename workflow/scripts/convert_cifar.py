from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.data.cifar import write_splits
from pruneinterp.workflow import job

with job(snakemake):
    write_splits(root=snakemake.params.root, variant=snakemake.params.variant, train_out=snakemake.output.train,
                 val_out=snakemake.output.val)
