"""Training images/s of the whole machine under three ways of using its cores: one 1-thread
process, one process with all cores as threads, and one 1-thread process per core side by side.

    python bench/thread_layout.py            # the default ResNet, 2 048 shapes images, best of 3

The workflow runs training jobs with ``train.threads: 1`` and as many jobs as cores (``snakemake
--cores N``); this measures whether N threads in one job would train faster than N jobs at once.
Each process trains the default model (``models.resnet`` of config/config.yaml) in fp32
channels_last on the same generated images with SGD, batch 64, after an untimed warm-up of 10
steps, for ``--steps`` steps; its rate is images / seconds of those steps. Layouts take turns,
best of ``--repeats`` per layout (the machine may be shared; rounds in turn spread the noise).
Results: a table on stdout and ``bench/results/thread_layout.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(threads: int, steps: int, images: int) -> None:
    """One training process: print its images/s on the last line of stdout."""
    import torch
    import torch.nn.functional as F
    import yaml

    from pruneinterp.data import shapes
    from pruneinterp.models import build_model
    from pruneinterp.training import Normalizer

    torch.set_num_threads(threads)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    batch = config["train"]["batch_size"]
    x, y = shapes.generate_arrays(shapes.ShapesSpec(), images, 0, "train")
    norm = Normalizer.fit(x)
    x = norm(torch.from_numpy(x)).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(y)
    torch.manual_seed(0)
    net = build_model("resnet", num_classes=10, **config["models"]["resnet"]["kwargs"])
    net = net.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    batches = len(x) // batch

    def step(i: int) -> None:
        b = i % batches
        loss = F.cross_entropy(net(x[b * batch:(b + 1) * batch]), y[b * batch:(b + 1) * batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(10):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    print(steps * batch / (time.perf_counter() - start))


def run_layout(processes: int, threads: int, steps: int, images: int) -> float:
    """Images/s of all processes together: started together, each timed over its own steps."""
    cmd = [sys.executable, __file__, "--worker", str(threads), "--steps", str(steps), "--images", str(images)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    rates = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"a benchmark process failed with status {p.returncode}")
        rates.append(float(out.strip().splitlines()[-1]))
    return sum(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "thread_layout.json"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.images)
        return
    cores = os.cpu_count() or 1
    layouts = {"1 process x 1 thread": (1, 1),
               f"1 process x {cores} threads": (1, cores),
               f"{cores} processes x 1 thread": (cores, 1)}
    best = {name: 0.0 for name in layouts}
    print(f"default ResNet, {args.images} shapes images 32 px, fp32 channels_last, {cores} CPUs; "
          f"{args.steps} steps of 64 per process, best of {args.repeats}, in turns", flush=True)
    for _ in range(args.repeats):
        for name, (processes, threads) in layouts.items():
            best[name] = max(best[name], run_layout(processes, threads, args.steps, args.images))
    base = best["1 process x 1 thread"]
    rows = []
    for name, rate in best.items():
        rows.append({"layout": name, "images_per_s": rate, "ratio_to_one_thread": rate / base})
        print(f"  {name:<26} {rate:7.0f} img/s   {rate / base:5.2f} x one thread")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpus": cores, "steps": args.steps, "images": args.images, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
