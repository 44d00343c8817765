"""What a paper-scale run costs before anyone starts one: GPU-hours and disk per rule.

    python bench/paper_cost.py                                   # config/paper/frankle-bau.yaml
    python bench/paper_cost.py --config config/paper/frankle-bau.yaml --ref-img-per-s 2470

Method (every number printed says where it comes from):

* **Jobs per rule**: a Snakemake dry run of the paper config, in a temporary copy of the workflow,
  with ImageNet and Broden replaced by tiny fixtures in the same on-disk layouts (the DAG does not
  depend on the datasets' sizes). The datasets' real sizes are the ``--n-*`` options (defaults:
  ImageNet-1k 1,281,167 train / 50,000 val images, Broden ``broden1_224`` 63,305 images).
* **Work per job** in images: training epochs x train images (a rewound retraining runs from the
  rewind iteration on) plus one validation pass per epoch; extraction is one forward pass over the
  probe.
* **FLOPs per image**: measured here with ``torch.utils.flop_counter.FlopCounterMode`` on the
  config's model (torchvision definition, random init) at the config's image size, forward and
  forward + backward.
* **GPU time**: FLOPs / a reference GPU rate. The rate is anchored on one published measurement,
  ``--ref-img-per-s`` images/s of ResNet-50 mixed-precision training on one A100-80GB (2,470 img/s,
  NVIDIA DeepLearningExamples, PyTorch ResNet50 v1.5, pytorch-21.03 container), converted to FLOP/s
  with the ResNet-50 training FLOPs measured here. No GPU was available to measure it ourselves;
  the estimate scales linearly with this one number. Data loading is assumed to keep up (DataLoader
  workers; see bench/input_pipeline.py).
* **CPU time** of this machine for the same work, measured (one training step and one forward pass
  of the model, batch 8, fp32, channels_last), for scale.
* **Dissection** runs on the extract rule's HDF5 without the network; its time is measured here on
  the CPU with the project's ``dissect_layer`` on synthetic activations of the dissected layer's
  shape over a generated probe, per image, and scaled to the probe's size.
* **Disk**: a checkpoint of the model (weights + masks, the project's ``save_checkpoint``) is
  written and measured; activations are N x C x H x W float32 per extracted layer (Contract 2);
  tables are small and counted as 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # workflow_fixture: the dry run on the tests' on-disk fixtures

IMAGENET = {"train": 1_281_167, "val": 50_000}
BRODEN_224 = 63_305
REF_MODEL = "resnet50"  # the reference throughput is for this model


def merged_config(path: Path) -> dict:
    """config/config.yaml updated by ``path`` the way Snakemake merges --configfile."""
    from pruneinterp.settings import merge_config

    return merge_config(yaml.safe_load((REPO / "config/config.yaml").read_text()), yaml.safe_load(path.read_text()))


def planned_jobs(config_path: Path, tmp: Path) -> dict[str, int]:
    """Rule -> job count from a dry run of ``config_path`` on fixtures in the real on-disk layouts."""
    from workflow_fixture import imagenet_broden_paths, paper_dry_run

    from pruneinterp.workflow import planned_rules

    rel = str(config_path.resolve().relative_to(REPO))
    proc = paper_dry_run(tmp, rel, imagenet_broden_paths(tmp))
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return planned_rules(proc.stdout)


def build(config: dict, model: str) -> torch.nn.Module:
    from pruneinterp.models import build_model

    spec = config["models"][model]
    return build_model(spec["arch"], **(spec.get("kwargs") or {}))


def flops_per_image(net: torch.nn.Module, size: int) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs of one image, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 3, size, size)
    net.train()
    with FlopCounterMode(display=False) as fwd:
        out = net(x)
    with FlopCounterMode(display=False) as bwd:
        out.float().sum().backward()
    f, b = fwd.get_total_flops() / 2, bwd.get_total_flops() / 2
    return float(f), float(f + b)


def cpu_seconds_per_image(net: torch.nn.Module, size: int, batch: int = 8, reps: int = 2) -> tuple[float, float]:
    """(forward, training step) seconds per image on this CPU, fp32, channels_last."""
    net = net.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.zeros(batch, dtype=torch.long)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    def fwd() -> None:
        with torch.no_grad():
            net(x)

    out = []
    for fn in (fwd, step):
        net.train(fn is step)
        fn()  # warm-up
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        out.append((time.perf_counter() - t) / (reps * batch))
    return out[0], out[1]


def unit_shape(net: torch.nn.Module, layer: str, size: int) -> tuple[int, ...]:
    from pruneinterp.models import unit_layer

    got = {}

    def hook(_module: torch.nn.Module, _inp: object, out: torch.Tensor) -> None:
        got["shape"] = tuple(out.shape[1:])

    handle = unit_layer(net, layer).register_forward_hook(hook)
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    handle.remove()
    return got["shape"]


def dissect_seconds_per_image(shape: tuple[int, ...], size: int, tmp: Path, n: int = 100) -> float:
    """The project's dissect_layer on synthetic activations of ``shape`` over a generated probe of
    ``size`` px images (segmentations at half that, as Broden's)."""
    import numpy as np

    from pruneinterp.data.broden import write_shapes_probe
    from pruneinterp.data.shapes import ShapesSpec
    from pruneinterp.data.broden import Probe
    from pruneinterp.dissection import dissect_layer

    probe_dir = tmp / "probe"
    write_shapes_probe(probe_dir, n, 0, ShapesSpec(size=size))
    probe = Probe(probe_dir, cache_labels=True)
    acts = np.maximum(np.random.default_rng(0).standard_normal((n, *shape), dtype=np.float32), 0)
    dissect_layer(acts[:8], probe, np.arange(8))  # warm-up
    t = time.perf_counter()
    dissect_layer(acts, probe, np.arange(n))
    return (time.perf_counter() - t) / n


def checkpoint_bytes(net: torch.nn.Module, tmp: Path) -> int:
    from pruneinterp.io import save_checkpoint
    from pruneinterp.pruning import select_layers

    masks = {f"{name}.weight": torch.ones_like(m.weight, dtype=torch.bool) for name, m in select_layers(net).items()}
    path = tmp / "ckpt.pt"
    save_checkpoint(path, {"state_dict": net.state_dict(), "masks": masks})
    return path.stat().st_size


def estimate(config_path: Path, ref_img_per_s: float, n_train: int, n_val: int, n_probe: int) -> dict:
    config = merged_config(config_path)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        jobs = planned_jobs(config_path, tmp)
        study = next(iter(s for s in config["studies"].values() if s.get("enabled", True)))
        model = study["model"]
        size = int(config["data"].get("image_size", 224))
        net = build(config, model)
        f_fwd, f_train = flops_per_image(net, size)
        ref_fwd, ref_train = (f_fwd, f_train) if config["models"][model]["arch"] == REF_MODEL else \
            flops_per_image(build({"models": {"r": {"arch": REF_MODEL}}}, "r"), 224)
        gpu_flops = ref_img_per_s * ref_train  # FLOP/s of the reference GPU, anchored on ResNet-50 training
        cpu_fwd, cpu_train = cpu_seconds_per_image(build(config, model), size)
        layers = config["extract"]["layers"]
        shapes = {layer: unit_shape(build(config, model), layer, size) for layer in layers}
        dissected = config["dissect"]["layers"]
        dissect_s = sum(dissect_seconds_per_image(shapes[layer], size, tmp / layer) for layer in dissected)
        ckpt = checkpoint_bytes(build(config, model), tmp)

    t = config["train"]
    steps = n_train // t["batch_size"]
    train_imgs = t["epochs"] * steps * t["batch_size"]
    rewound = (t["epochs"] * steps - t["rewind_iteration"]) * t["batch_size"]
    val_imgs = t["epochs"] * n_val
    act_bytes = sum(n_probe * 4 * int(torch.tensor(s).prod()) for s in shapes.values())
    # rule -> (training images, forward images, CPU-side seconds, bytes written), per job
    per_job = {
        "train_dense": (train_imgs, val_imgs, 0.0, 3 * ckpt),             # init, rewind, final
        "prune_retrain": (rewound, val_imgs, 0.0, ckpt),                  # rewind from iteration k
        "prune": (0, 0, 0.0, ckpt),
        "extract_activations": (0, n_probe, 0.0, act_bytes),
        "dissect": (0, 0, dissect_s * n_probe, 0),
    }
    rows = []
    for rule, n in sorted(jobs.items(), key=lambda kv: -kv[1]):
        tr, fw, cpu_side, nbytes = per_job.get(rule, (0, 0, 0.0, 0))
        gpu_h = n * (tr * f_train + fw * f_fwd) / gpu_flops / 3600
        cpu_h = n * (tr * cpu_train + fw * cpu_fwd + cpu_side) / 3600
        rows.append({"rule": rule, "jobs": n, "train_images_per_job": tr, "forward_images_per_job": fw,
                     "gpu_hours": round(gpu_h, 1), "cpu_core_hours_here": round(cpu_h, 1),
                     "disk_gb": round(n * nbytes / 1e9, 2)})
    return {
        "config": str(config_path.resolve().relative_to(REPO)), "model": model, "image_size": size,
        "datasets": {"train": n_train, "val": n_val, "probe": n_probe},
        "flops_per_image": {"forward": f_fwd, "train_step": f_train},
        "reference": {"model": REF_MODEL, "img_per_s": ref_img_per_s, "train_flops_per_image": ref_train,
                      "gpu_tflops_sustained": round(gpu_flops / 1e12, 1),
                      "source": "NVIDIA DeepLearningExamples ResNet50 v1.5 PyTorch, 1x A100-80GB, AMP"},
        "measured_here": {"cpu_s_per_image_forward": cpu_fwd, "cpu_s_per_image_train_step": cpu_train,
                          "dissect_s_per_probe_image": dissect_s, "checkpoint_bytes": ckpt,
                          "activation_bytes_per_checkpoint": act_bytes, "unit_shapes": shapes},
        "rules": rows,
        "total": {"gpu_hours": round(sum(r["gpu_hours"] for r in rows), 1),
                  "cpu_core_hours_here": round(sum(r["cpu_core_hours_here"] for r in rows), 1),
                  "disk_gb": round(sum(r["disk_gb"] for r in rows), 1)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=REPO / "config/paper/frankle-bau.yaml")
    ap.add_argument("--ref-img-per-s", type=float, default=2470.0,
                    help="ResNet-50 mixed-precision training images/s of the GPU to estimate for (default: one A100)")
    ap.add_argument("--n-train", type=int, default=IMAGENET["train"])
    ap.add_argument("--n-val", type=int, default=IMAGENET["val"])
    ap.add_argument("--n-probe", type=int, default=BRODEN_224)
    ap.add_argument("--json", type=Path, default=REPO / "bench/results/paper_cost.json")
    a = ap.parse_args()
    res = estimate(a.config, a.ref_img_per_s, a.n_train, a.n_val, a.n_probe)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=1) + "\n")
    print(f"{res['config']}: {res['model']} at {res['image_size']} px; "
          f"{res['flops_per_image']['train_step'] / 1e9:.1f} GFLOP per training image "
          f"(reference GPU: {res['reference']['gpu_tflops_sustained']} TFLOP/s sustained)")
    print(f"{'rule':28s} {'jobs':>5s} {'GPU-h':>9s} {'CPU core-h here':>16s} {'disk GB':>9s}")
    for r in res["rules"]:
        print(f"{r['rule']:28s} {r['jobs']:5d} {r['gpu_hours']:9.1f} {r['cpu_core_hours_here']:16.1f} {r['disk_gb']:9.2f}")
    tot = res["total"]
    print(f"{'total':28s} {'':5s} {tot['gpu_hours']:9.1f} {tot['cpu_core_hours_here']:16.1f} {tot['disk_gb']:9.1f}")
    print(f"written {a.json}")


if __name__ == "__main__":
    main()
