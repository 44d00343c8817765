from pruneinterp.preload import delegate

delegate(snakemake, __file__)  # runs the rest in a preloaded process where one is up (pruneinterp.preload)
from pruneinterp.gallery import write_gallery
from pruneinterp.workflow import job

with job(snakemake):
    p = snakemake.params
    m = dict(p.mis)
    m.pop("layers")
    backend, weights = m.pop("backend"), m.pop("weights")
    write_gallery(accuracy=snakemake.input.accuracy, activations=list(snakemake.input.activations),
                  dissections=list(snakemake.input.dissections), levels=p.levels, probe_dir=snakemake.input.probe,
                  out_html=snakemake.output.html, out_dir=snakemake.output.png, seed=p.seed, layer=p.layer,
                  cfg=p.gallery, mis=m, backend=backend, weights=weights, chain=dict(p.chain),
                  upsample=p.upsample)
