"""The workflow's stages as plain functions: each reads files and writes files (atomically).

The CLI (:mod:`pruneinterp.cli`) and the Snakemake scripts (``workflow/scripts``) only unpack their
arguments and call these.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .data import shapes
from .data.broden import Probe, write_shapes_probe
from .io import InputError, atomic_path, load_checkpoint, save_checkpoint, write_csv
from .models import build_model
from .pruning import attach_masks, detach_masks, prune_masks, select_layers, sparsity
from .training import Normalizer, TrainConfig, resolve_device, train

METRIC_COLUMNS = ["study", "model", "seed", "method", "schedule", "retrain", "level", "sparsity", "epoch",
                  "split", "top1", "loss"]


def make_data(out_dir: str | os.PathLike[str], n_train: int, n_val: int, n_probe: int, seed: int,
              spec: dict[str, Any] | None = None) -> None:
    """Generate the shapes dataset: ``train.npz``, ``val.npz`` and the Broden-format ``probe/``."""
    out = Path(out_dir)
    sp = shapes.ShapesSpec(**(spec or {}))
    for split, n in (("train", n_train), ("val", n_val)):
        images, targets = shapes.generate_arrays(sp, n, seed, split)
        with atomic_path(out / f"{split}.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, images=images, targets=targets, classes=np.array(shapes.SHAPES))
    write_shapes_probe(out / "probe", n_probe, seed, sp)


def make_probe(out_dir: str | os.PathLike[str], n: int, seed: int, spec: dict[str, Any] | None = None) -> None:
    write_shapes_probe(out_dir, n, seed, shapes.ShapesSpec(**(spec or {})))


def load_split(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: dataset split not found")
    try:
        with np.load(path) as z:
            images, targets = z["images"], z["targets"]
    except Exception as exc:
        raise InputError(f"{path}: not a readable dataset split ({type(exc).__name__}: {exc})") from None
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(targets):
        raise InputError(f"{path}: expected images (N, H, W, C) uint8 and N targets")
    return torch.from_numpy(images), torch.from_numpy(targets.astype(np.int64))


def _num_classes(data: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> int:
    return int(max(int(t.max()) for _, t in data.values())) + 1


def _metrics_frame(rows: list[dict[str, Any]], ident: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for key, value in ident.items():
        df[key] = value
    return df[METRIC_COLUMNS]


def train_dense(train_path: str, val_path: str, out: dict[str, str], model: str, model_kwargs: dict[str, Any],
                train_cfg: dict[str, Any], seed: int, rewind_iteration: int, device: str = "cpu") -> None:
    """Train a dense model. ``out`` has paths ``init``, ``rewind``, ``checkpoint``, ``metrics``."""
    data = {"train": load_split(train_path), "val": load_split(val_path)}
    cfg = TrainConfig(**train_cfg)
    torch.manual_seed(seed)
    kwargs = {"num_classes": _num_classes(data), **model_kwargs}
    net = build_model(model, **kwargs)
    norm = Normalizer.fit(data["train"][0].numpy())
    result = train(net, data, cfg, seed, norm, capture_iterations=(0, rewind_iteration), device=resolve_device(device))
    common = {"model": model, "model_kwargs": kwargs, "normalization": vars(norm), "masks": {}, "seed": seed}
    save_checkpoint(out["init"], {**common, "state_dict": result.captured[0], "iteration": 0})
    save_checkpoint(out["rewind"], {**common, "state_dict": result.captured[rewind_iteration],
                                    "iteration": rewind_iteration})
    layers = select_layers(net)
    sp = sparsity(net, {}, layers)
    save_checkpoint(out["checkpoint"], {**common, "state_dict": net.state_dict(), "sparsity": sp.as_dict(),
                                        "level": 0})
    ident = {"study": "dense", "model": model, "seed": seed, "method": "none", "schedule": "none",
             "retrain": "none", "level": 0, "sparsity": 0.0}
    write_csv(_metrics_frame(result.metrics, ident), out["metrics"])


def prune(checkpoint: str, out: str, method: str, fraction: float, include: list[str] | None = None,
          exclude: list[str] | None = None, seed: int = 0) -> None:
    """Compute the next level's mask from a trained checkpoint (its own mask stays in force) and save
    it with the checkpoint's weights, masked (the pruned, not yet retrained network)."""
    ckpt = load_checkpoint(checkpoint)
    net = build_model(ckpt["model"], **ckpt["model_kwargs"])
    net.load_state_dict(ckpt["state_dict"])
    layers = select_layers(net, include, exclude)
    masks = prune_masks(method, net, fraction, layers, ckpt.get("masks", {}), seed=seed)
    net.load_state_dict(ckpt["state_dict"])  # the method may have zeroed weights it chose itself
    attach_masks(net, masks)
    detach_masks(net)
    sp = sparsity(net, masks, layers)
    save_checkpoint(out, {**{k: ckpt[k] for k in ("model", "model_kwargs", "normalization", "seed")},
                          "state_dict": net.state_dict(), "masks": masks, "sparsity": sp.as_dict(),
                          "level": int(ckpt.get("level", 0)) + 1, "method": method, "fraction": fraction})


def retrain(mask_path: str, rewind_path: str, train_path: str, val_path: str, out: dict[str, str],
            train_cfg: dict[str, Any], seed: int, ident: dict[str, Any], device: str = "cpu") -> None:
    """Lottery-ticket retraining: surviving weights reset to the rewind checkpoint's values, mask
    enforced throughout, the rest of the dense schedule from the rewind iteration on."""
    mask_ckpt = load_checkpoint(mask_path)
    rewind = load_checkpoint(rewind_path)
    data = {"train": load_split(train_path), "val": load_split(val_path)}
    cfg = TrainConfig(**train_cfg)
    net = build_model(rewind["model"], **rewind["model_kwargs"])
    net.load_state_dict(rewind["state_dict"])
    norm = Normalizer(**rewind["normalization"])
    torch.manual_seed(seed)
    result = train(net, data, cfg, seed, norm, masks=mask_ckpt["masks"], start_iteration=int(rewind["iteration"]),
                   device=resolve_device(device))
    sp = mask_ckpt["sparsity"]
    save_checkpoint(out["checkpoint"], {**{k: rewind[k] for k in ("model", "model_kwargs", "normalization", "seed")},
                                        "state_dict": net.state_dict(), "masks": mask_ckpt["masks"], "sparsity": sp,
                                        "level": mask_ckpt["level"]})
    ident = {**ident, "model": rewind["model"], "seed": seed, "level": mask_ckpt["level"],
             "sparsity": sp["prunable_fraction_removed"]}
    write_csv(_metrics_frame(result.metrics, ident), out["metrics"])


def dissect(activations: str, probe_dir: str, out: str, layers: list[str] | None = None, quantile: float = 0.005,
            iou_threshold: float = 0.04, device: str = "cpu", iou_out: str | None = None) -> pd.DataFrame:
    from .activations import open_activations
    from .dissection import dissect_layer

    probe = Probe(probe_dir)
    tables = []
    with open_activations(activations) as f:
        available = list(f["layers"])
        for layer in layers or available:
            if layer not in available:
                raise InputError(f"{activations}: no layer {layer!r}; available: {', '.join(available)}")
            image_index = f["image_index"][:]
            if image_index.max(initial=-1) >= len(probe):
                raise InputError(f"{activations}: image_index exceeds the {len(probe)} images of {probe_dir}")
            d = dissect_layer(f["layers"][layer], probe, image_index, quantile=quantile, device=device)
            tables.append(d.table(layer, iou_threshold))
    df = pd.concat(tables, ignore_index=True)
    write_csv(df, out)
    return df
