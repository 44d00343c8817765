"""How the MIS confidence scale alpha was set, and what it does (README, "MIS").

    python bench/mis_alpha.py                       # default probe (1000 images), default tasks
    python bench/mis_alpha.py --backend features    # the pixel-statistics backend instead

Generates the default shapes probe in a temporary directory and scores, with the default task
construction (N = 10 tasks, K = 9 explanations), three kinds of planted units:

* ``random``: 200 units with random activations (chance level; their margins d give the backend's
  scale at chance, ``sigma0`` = sd of d over their tasks);
* ``colour``: mean redness of the image (a monotone function of a colour property);
* ``shape``: one unit per class, activation 1 + area of that class's object, else minus the area of
  any other class object (a monotone function of a shape property, whatever the colour).

It prints sigma0, the 0/1 accuracy of each kind, and the mean confidence sigmoid(alpha * d) for
alpha = c / sigma0 at several c. The default alpha (``mis.DEFAULT_ALPHA``) is 2 / sigma0, rounded: a
task decided by a margin of two chance-level standard deviations gets confidence 0.88. Random units
stay at 0.5 for every alpha (d is symmetric at chance); alpha only stretches scores away from 0.5,
towards each unit's 0/1 accuracy.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np


def main() -> None:
    from pruneinterp.data.broden import Probe, write_shapes_probe
    from pruneinterp.data.shapes import SHAPES, ShapesSpec
    from pruneinterp.mis import (DEFAULT_ALPHA, ROW_BACKENDS, MISConfig, confidence, load_backend, make_tasks,
                                  task_margins)

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="concepts")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--n-tasks", type=int, default=10)
    ap.add_argument("--k", type=int, default=9)
    ap.add_argument("--spec", default="{}", help="ShapesSpec fields as JSON, e.g. '{\"context\": 0.4}'")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        write_shapes_probe(d + "/p", args.images, 0, ShapesSpec(**json.loads(args.spec)))
        probe = Probe(d + "/p")
        n = len(probe)
        rgb = probe.images(np.arange(n)).astype(float)
        masks, _ = probe.label_masks(np.arange(n))
        col = {(lab.name, lab.category): i for i, lab in enumerate(probe.labels)}
        shape = []
        for c in range(len(SHAPES)):
            area = masks[:, :, col[(SHAPES[c], "object")]].mean(1)
            others = masks[:, :, [col[(s, "object")] for s in SHAPES if s != SHAPES[c]]].any(-1).mean(1)
            shape.append(np.where(probe.targets == c, 1.0 + area, -others))
        kinds = {"random": np.random.default_rng(0).random((n, 200)),
                 "colour": (rgb[..., 0] - rgb[..., 1:].mean(-1)).mean((1, 2))[:, None],
                 "shape": np.stack(shape, 1)}
        sim = load_backend(args.backend, probe=probe)
        items = (lambda rows: rows) if args.backend in ROW_BACKENDS else (lambda rows: rgb[rows].astype(np.uint8))
        cfg = MISConfig(n_tasks=args.n_tasks, k=args.k)
        d = {k: task_margins(make_tasks(v, cfg), sim, items) for k, v in kinds.items()}
        sigma0 = float(d["random"].std())
        print(f"backend {args.backend}, {n} probe images, N={cfg.n_tasks}, K={cfg.k}: sigma0 = {sigma0:.4f}")
        print("accuracy: " + ", ".join(f"{k} {(v > 0).mean():.3f}" for k, v in d.items()))
        for c in (0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6):
            conf = {k: confidence(v, c / sigma0).mean() for k, v in d.items()}
            print(f"c = {c:>3} (alpha {c / sigma0:6.2f}): " + ", ".join(f"{k} {v:.3f}" for k, v in conf.items()))
        print(f"default rule c = 2: alpha = {2 / sigma0:.1f} (mis.DEFAULT_ALPHA = {DEFAULT_ALPHA})")


if __name__ == "__main__":
    main()
