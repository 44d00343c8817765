"""Training images/s: the project's loop (``pruneinterp.training.train``) against a minimal
hand-written torch loop, on the same model, data, precision and memory layout.

    python bench/train_loop.py        # the default ResNet (config/config.yaml), 4096 shapes images, 1 thread

Both train the embedded default's model (``models.resnet`` of config/config.yaml) from the same
initial weights on the same generated images, with config.yaml's training settings (batch 64, SGD
with momentum and weight decay on conv/linear weights only, warm-up + cosine learning rate, fp32
here: ``precision: auto`` resolves to it on a CPU without native bf16; channels_last), for
``--epochs`` epochs, no evaluation. The minimal loop is what one would write by hand: randperm order,
index, normalise, step. Rows, timed alternately (round robin after an untimed warm-up round, best of ``--repeats``),
in this one process:

* ``minimal``: the hand-written loop;
* ``train(), workers=0`` and ``workers=1``: the project's loop, batches read through its DataLoader
  in the process or by one worker;
* ``train(), masked``: the project's loop on a network with half its prunable weights masked
  (global magnitude), as every pruned level trains (``torch.nn.utils.prune`` hooks recompute
  ``weight = weight_orig * weight_mask`` in every forward pass);
* ``minimal, masked``: the hand-written loop multiplying the weights by the mask after each step
  (what the hooks cost);
* ``train(), compile=B`` (only with ``--compile B``): the project's loop with ``train.compile: B``;
  its time includes compiling, once per run as a workflow job compiles once per process (after the
  untimed round, inductor's on-disk cache makes that a few seconds instead of ~40 s).

The ratio to ``minimal`` is printed; ``train(), workers=0`` is the acceptance row (>= 0.95).
Results: a table on stdout and ``bench/results/train_loop.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from pruneinterp.data import shapes
from pruneinterp.models import build_model
from pruneinterp.pruning import prune_masks, select_layers
from pruneinterp.training import Normalizer, TrainConfig, resolve_precision, train

REPO = Path(__file__).resolve().parents[1]


def minimal_loop(net, x, y, cfg: TrainConfig, seed: int, norm: Normalizer, masks=None) -> None:
    """The same training, written out: randperm order per epoch, batches without the partial one,
    normalise, channels_last, SGD with two parameter groups and the warm-up + cosine schedule."""
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net.to(memory_format=layout)
    params = dict(net.named_parameters())
    pairs = [(params[k], m) for k, m in (masks or {}).items()]
    for p, m in pairs:
        p.data.mul_(m)
    groups = [{"params": [p for p in params.values() if p.ndim > 1], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params.values() if p.ndim <= 1], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    steps = len(x) // cfg.batch_size
    total = cfg.epochs * steps
    it = 0
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        net.train()
        for b in range(steps):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb = norm(x[idx]).contiguous(memory_format=layout)
            warm = it < cfg.warmup_iterations
            progress = (it - cfg.warmup_iterations) / max(1, total - cfg.warmup_iterations)
            lr = cfg.lr * ((it + 1) / cfg.warmup_iterations if warm else 0.5 * (1 + math.cos(math.pi * progress)))
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for p, m in pairs:
                    p.mul_(m)
            it += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", default="none", help="also time train() with this torch.compile backend")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "train_loop.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    settings = {k: v for k, v in config["train"].items() if k not in ("rewind_iteration", "threads")}
    cfg = TrainConfig(**{**settings, "epochs": args.epochs})
    precision = resolve_precision(cfg.precision, torch.device("cpu"))
    if precision != "fp32":
        raise SystemExit(f"this CPU trains the default in {precision}; the minimal loop here is fp32")
    cfg = TrainConfig(**{**settings, "epochs": args.epochs, "precision": "fp32"})
    images, targets = shapes.generate_arrays(shapes.ShapesSpec(), args.images, 0, "train")
    x, y = torch.from_numpy(images), torch.from_numpy(targets)
    norm = Normalizer.fit(images)
    torch.manual_seed(0)
    init = build_model("resnet", num_classes=10, **config["models"]["resnet"]["kwargs"])
    masks = prune_masks("magnitude_global", init, 0.5, select_layers(init, exclude=["fc"]), {})
    data = {"train": (x, y)}

    def ours(workers: int = 0, masked: bool = False, compile: str = "none"):
        run_cfg = dataclasses.replace(cfg, compile=compile)
        return lambda net: train(net, data, run_cfg, 0, norm, masks=masks if masked else None, workers=workers)

    variants = {
        "minimal": lambda net: minimal_loop(net, x, y, cfg, 0, norm),
        "train(), workers=0": ours(0),
        "train(), workers=1": ours(1),
        "train(), masked": ours(0, masked=True),
        "minimal, masked": lambda net: minimal_loop(net, x, y, cfg, 0, norm, masks),
    }
    if args.compile != "none":
        variants[f"train(), compile={args.compile}"] = ours(0, compile=args.compile)
    n = args.epochs * (args.images // cfg.batch_size) * cfg.batch_size
    best = {name: float("inf") for name in variants}
    print(f"default ResNet ({config['models']['resnet']['kwargs']}), {args.images} shapes images 32 px, batch "
          f"{cfg.batch_size}, fp32 channels_last, {args.threads} thread(s), {os.cpu_count()} CPUs; "
          f"{args.epochs} epoch(s) per run, best of {args.repeats}, round robin", flush=True)
    for repeat in range(args.repeats + 1):  # round 0 warms up (oneDNN primitives, lazy imports), untimed
        for name, run in variants.items():
            net = copy.deepcopy(init)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                start = time.perf_counter()
                run(net)
                elapsed = time.perf_counter() - start
            if repeat:
                best[name] = min(best[name], elapsed)
    rows = []
    for name, t in best.items():
        rows.append({"loop": name, "images_per_s": n / t, "ratio_to_minimal": best["minimal"] / t})
        print(f"  {name:<26} {n / t:7.0f} img/s   {best['minimal'] / t:5.3f} x minimal")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"images": args.images, "epochs": args.epochs, "threads": args.threads,
                               "compile": args.compile, "torch": torch.__version__, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
