"""MIS throughput: units per second for a 256-unit conv layer on the generated probe.

    python bench/mis.py                 # 1000 probe images, 256 units at 8x8, both offline backends

Timed: task construction for every unit, one similarity matrix over all images the tasks use, and
every task's score (the probe's images are decoded once beforehand, as the stage does per layer).
For comparison, the same tasks scored one by one, features computed for each task's own 19 images
(no shared matrix; the texture block is then standardised within those images, so scores can differ
slightly), on the first 16 units and extrapolated.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pruneinterp.data.broden import Probe, write_shapes_probe
from pruneinterp.data.shapes import ShapesSpec
from pruneinterp.mis import ROW_BACKENDS, MISConfig, image_features, load_backend, make_tasks, mis_layer, pooled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    acts = np.maximum(np.random.default_rng(0).standard_normal((args.images, args.units, 8, 8)), 0)
    cfg = MISConfig()
    with tempfile.TemporaryDirectory() as tmp:
        write_shapes_probe(Path(tmp) / "probe", args.images, 0, ShapesSpec())
        probe = Probe(Path(tmp) / "probe")
        images = probe.images(np.arange(args.images))
        for name in ("concepts", "features"):
            sim = load_backend(name, probe=probe)
            items = (lambda rows: rows) if name in ROW_BACKENDS else (lambda rows: images[rows])
            start = time.perf_counter()
            mis, _ = mis_layer(acts, sim, items, cfg)
            t = time.perf_counter() - start
            print(f"MIS of {args.units} units ({args.images} probe images, {cfg.n_tasks} tasks x {cfg.k} explanations, "
                  f"{name} backend), {args.threads} threads: {t:.2f} s = {args.units / t:.0f} units/s; "
                  f"mean confidence of these random units {np.nanmean(mis):.3f} (chance 0.5)")
    # naive: per task, features of the images involved recomputed pairwise
    sub = 16
    tasks = make_tasks(pooled(acts[:, :sub]), cfg)
    start = time.perf_counter()
    naive = np.zeros((sub, cfg.n_tasks))
    for u in range(sub):
        for task in range(cfg.n_tasks):
            def delta(q: int) -> float:
                f = image_features(images[np.r_[q, tasks.e_pos[u, task], tasks.e_neg[u, task]]])
                s = f[1:] @ f[0]
                return s[:cfg.k].mean() - s[cfg.k:].mean()
            naive[u, task] = delta(tasks.q_pos[u, task]) - delta(tasks.q_neg[u, task]) > 0
    t_naive = (time.perf_counter() - start) / sub * args.units
    print(f"  per-task recomputation (extrapolated from {sub} units): {t_naive:.1f} s "
          f"({args.units / t_naive:.1f} units/s); ratio {t_naive / t:.0f}x")


if __name__ == "__main__":
    main()
