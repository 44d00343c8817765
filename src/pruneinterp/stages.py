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
from .pruning import (STRUCTURE_DIM, attach_masks, clean_state_dict, derive_seed, detach_masks, prune_masks,
                      random_mask_like, select_layers, sparsity)
from .training import Normalizer, TrainConfig, evaluate, resolve_device, train

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


def load_split(path: str | os.PathLike[str]) -> tuple[Any, torch.Tensor]:
    """(images, targets) of a split: a generated ``.npz`` (images in memory, (N, H, W, C) uint8) or
    an ImageFolder index ``.csv`` (images read lazily, indexable the same way)."""
    path = Path(path)
    if path.suffix == ".csv":
        from .data.imagefolder import load_index

        return load_index(path)
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
    images = data["train"][0]
    # the input normalisation: from all training images in memory, or a seeded sample of those on disk
    norm = Normalizer.fit(images.sample(2000, seed) if hasattr(images, "sample") else images.numpy())
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
          exclude: list[str] | None = None, seed: int = 0, layer_scale: dict[str, float] | None = None,
          level: int | None = None) -> None:
    """Prune ``fraction`` of the surviving prunable weights of a trained checkpoint (its own mask stays
    in force) and save the new mask with the checkpoint's weights, masked: the pruned, not yet
    retrained network. ``level`` (default: the checkpoint's level + 1) names the result; a one-shot
    schedule prunes the dense checkpoint straight to its target, so its level is the target's index.
    Random methods draw from ``derive_seed(seed, "prune", level)``."""
    ckpt = load_checkpoint(checkpoint)
    net = build_model(ckpt["model"], **ckpt["model_kwargs"])
    net.load_state_dict(ckpt["state_dict"])
    layers = select_layers(net, include, exclude)
    level = int(ckpt.get("level", 0)) + 1 if level is None else int(level)
    masks = prune_masks(method, net, fraction, layers, ckpt.get("masks", {}), seed=derive_seed(seed, "prune", level),
                        layer_scale=layer_scale)
    net.load_state_dict(ckpt["state_dict"])  # the method may have zeroed weights it chose itself
    attach_masks(net, masks)
    detach_masks(net)
    sp = sparsity(net, masks, layers)
    save_checkpoint(out, {**{k: ckpt[k] for k in ("model", "model_kwargs", "normalization", "seed")},
                          "state_dict": net.state_dict(), "masks": masks, "sparsity": sp.as_dict(),
                          "prunable_layers": list(layers), "level": level, "method": method, "fraction": fraction})


RETRAIN_STRATEGIES = ("rewind", "finetune_sgd", "finetune_adam", "reinit", "random_reinit", "none")


def finetune_config(train_cfg: dict[str, Any], finetune: dict[str, Any], strategy: str) -> TrainConfig:
    """The dense training settings with fine-tuning's epochs, optimiser, lr and exponential decay."""
    opt = strategy.removeprefix("finetune_")
    if opt not in finetune:
        raise ValueError(f"retrain strategy {strategy!r} needs finetune.{opt} settings; have: {', '.join(finetune)}")
    return TrainConfig(**{**train_cfg, "epochs": finetune["epochs"], "warmup_iterations": 0,
                          "schedule": "exponential", "optimizer": opt, **finetune[opt]})


def retrain(mask_path: str, train_path: str, val_path: str, out: dict[str, str], strategy: str,
            train_cfg: dict[str, Any], seed: int, ident: dict[str, Any], rewind_path: str | None = None,
            finetune: dict[str, Any] | None = None, device: str = "cpu", epochs_dir: str | None = None) -> None:
    """Recover a pruned network (``mask_path``, written by :func:`prune`) with one strategy; the mask
    is enforced throughout and the result saved with per-epoch metrics:

    * ``rewind``: surviving weights reset to ``rewind_path``'s (iteration k of the dense run), then
      the rest of the dense schedule from k on (lottery ticket);
    * ``finetune_sgd`` / ``finetune_adam``: continue from the pruned weights for ``finetune.epochs``
      with that optimiser and an exponentially decaying lr; epoch 0 = the pruned network;
    * ``reinit``: fresh random weights (``derive_seed(seed, "reinit", level)``), the same mask, the
      dense schedule from iteration 0 (Blakeney's post-pruning re-initialisation);
    * ``random_reinit``: a random mask with the same per-layer counts (of weights, or of whole
      channels for structured/connection masks), fresh weights, the dense schedule (Blakeney's
      random sparse initialisation);
    * ``none``: evaluate the pruned network as it is (epoch 0).

    ``epochs_dir`` also saves the network before retraining and after every epoch as
    ``epochs_dir/epoch<e>/checkpoint.pt`` (e = 0 .. epochs), e.g. to follow its representations.
    """
    if strategy not in RETRAIN_STRATEGIES:
        raise ValueError(f"unknown retrain strategy {strategy!r}; allowed: {', '.join(RETRAIN_STRATEGIES)}")
    mask_ckpt = load_checkpoint(mask_path)
    level = int(mask_ckpt["level"])
    masks = mask_ckpt["masks"]
    data = {"train": load_split(train_path), "val": load_split(val_path)}
    net = build_model(mask_ckpt["model"], **mask_ckpt["model_kwargs"])
    norm = Normalizer(**mask_ckpt["normalization"])
    dev = resolve_device(device)
    cfg = TrainConfig(**train_cfg)
    start = 0
    sp = mask_ckpt["sparsity"]
    if strategy == "rewind":
        if rewind_path is None:
            raise ValueError("retrain strategy rewind needs the rewind checkpoint (--rewind)")
        rewind = load_checkpoint(rewind_path)
        net.load_state_dict(rewind["state_dict"])
        start = int(rewind["iteration"])
    elif strategy.startswith("finetune_"):
        net.load_state_dict(mask_ckpt["state_dict"])
        cfg = finetune_config(train_cfg, finetune or {}, strategy)
    elif strategy in ("reinit", "random_reinit"):
        torch.manual_seed(derive_seed(seed, strategy, level))
        net = build_model(mask_ckpt["model"], **mask_ckpt["model_kwargs"])
        if strategy == "random_reinit":
            layers = select_layers(net, mask_ckpt.get("prunable_layers"))
            masks = random_mask_like(masks, net, layers, derive_seed(seed, "random_mask", level),
                                     STRUCTURE_DIM.get(mask_ckpt.get("method", "")))
            sp = sparsity(net, masks, layers).as_dict()
    else:  # none
        net.load_state_dict(mask_ckpt["state_dict"])
    if strategy == "none":
        attach_masks(net, masks)
        top1, loss = evaluate(net.to(dev), *data["val"], norm, cfg, dev)
        detach_masks(net.to("cpu"))
        metrics = [{"epoch": 0, "split": "val", "top1": top1, "loss": loss}]
    else:
        keep = {k: mask_ckpt[k] for k in ("model", "model_kwargs", "normalization", "seed")}

        def save_epoch(epoch: int, model: torch.nn.Module) -> None:
            save_checkpoint(f"{epochs_dir}/epoch{epoch}/checkpoint.pt",
                            {**keep, "state_dict": clean_state_dict(model), "masks": masks, "level": level,
                             "retrain": strategy, "epoch": epoch})

        if epochs_dir is not None:
            attach_masks(net, masks)
            save_epoch(0, net)
            detach_masks(net)
        torch.manual_seed(seed)
        result = train(net, data, cfg, seed, norm, masks=masks, start_iteration=start, device=dev,
                       evaluate_before=strategy.startswith("finetune_"),
                       on_epoch=save_epoch if epochs_dir is not None else None)
        metrics = result.metrics
    save_checkpoint(out["checkpoint"], {**{k: mask_ckpt[k] for k in ("model", "model_kwargs", "normalization", "seed")},
                                        "state_dict": net.state_dict(), "masks": masks, "sparsity": sp,
                                        "prunable_layers": mask_ckpt.get("prunable_layers"), "level": level,
                                        "retrain": strategy})
    ident = {"model": mask_ckpt["model"], **ident, "seed": seed, "level": level,
             "sparsity": sp["prunable_fraction_removed"]}
    write_csv(_metrics_frame(metrics, ident), out["metrics"])


def _check_probe_rows(activations: str, image_index: np.ndarray, probe: Probe, probe_dir: str) -> None:
    if image_index.max(initial=-1) >= len(probe):
        raise InputError(f"{activations}: image_index exceeds the {len(probe)} images of {probe_dir}")


def dissect(activations: str, probe_dir: str, out: str, layers: list[str] | None = None, quantile: float = 0.005,
            iou_threshold: float = 0.04, device: str = "cpu", iou_out: str | None = None,
            bootstrap_out: str | None = None, bootstrap: dict[str, int] | None = None,
            budget: int | None = None) -> pd.DataFrame:
    """Dissect the layers of an activations file: the Contract 3 table (best label per unit) to
    ``out``; optionally the full IoU matrices (HDF5) to ``iou_out`` and, with ``bootstrap``
    (replicates, blocks, seed; replicates 0 = off), per-replicate counts of interpretable units and
    unique concepts to ``bootstrap_out``."""
    from .activations import open_activations
    from .dissection import DEFAULT_BUDGET, BOOTSTRAP_COLUMNS, Bootstrap, dissect_layer, write_iou_file

    probe = Probe(probe_dir)
    device = str(resolve_device(device))
    boot = Bootstrap(**bootstrap) if bootstrap and bootstrap.get("replicates", 0) > 0 else None
    tables, boots, results = [], [], {}
    with open_activations(activations) as f:
        available = list(f["layers"])
        image_index = f["image_index"][:]
        _check_probe_rows(activations, image_index, probe, probe_dir)
        for layer in layers or available:
            if layer not in available:
                raise InputError(f"{activations}: no layer {layer!r}; available: {', '.join(available)}")
            if f["layers"][layer].ndim != 4:
                raise InputError(f"{activations}: layer {layer!r} is not a conv layer (N, C, H, W); "
                                 f"dissection needs spatial maps")
            d = dissect_layer(f["layers"][layer], probe, image_index, quantile=quantile, device=device,
                              budget=budget or DEFAULT_BUDGET, bootstrap=boot)
            results[layer] = d
            tables.append(d.table(layer, iou_threshold))
            boots.append(d.bootstrap_table(layer, iou_threshold))
        source_attrs = {"model": str(f.attrs.get("model", "")), "checkpoint_sha256": str(f.attrs.get("checkpoint_sha256", ""))}
    df = pd.concat(tables, ignore_index=True)
    if iou_out:
        write_iou_file(iou_out, results, {"activations": str(activations), "probe": str(probe_dir),
                                          "quantile": quantile, **source_attrs})
    if bootstrap_out:
        frames = [b for b in boots if len(b)]
        write_csv(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BOOTSTRAP_COLUMNS),
                  bootstrap_out)
    write_csv(df, out)
    return df


GROUND_TRUTH_COLUMNS = ["unit", "planted", "label", "iou", "iou_bound", "interpretable", "recovered"]


def ground_truth(probe_dir: str, out: str, labels: list[str], noise_units: int = 2, quantile: float = 0.005,
                 iou_threshold: float = 0.04, seed: int = 0, downsample: int = 2,
                 activations_out: str | None = None) -> pd.DataFrame:
    """Validate dissection on planted units. Unit u < len(labels) is an exact detector of
    ``labels[u]``: its map is the label's segmentation mask, average-pooled by ``downsample`` (as a
    conv layer at lower resolution would see it), times a per-image strength in [0.5, 1.5], plus
    tiny noise to break ties; the last
    ``noise_units`` units are uniform noise. The planted layer is dissected like any other, and the
    table says for each unit which label it got, its IoU, the largest IoU a unit with this quantile
    can reach for the planted label (``quantile / coverage``, capped at 1), and whether it was
    recovered (planted detectors: best label = planted and interpretable; noise: not interpretable)."""
    from .dissection import dissect_layer

    probe = Probe(probe_dir)
    names = [lab.name for lab in probe.labels]
    unknown = [name for name in labels if name not in names]
    if unknown:
        raise ValueError(f"ground truth labels {unknown} are not labels of {probe_dir}; allowed: {', '.join(names)}")
    sizes = probe.index[["sh", "sw"]].drop_duplicates().to_numpy()
    if len(sizes) != 1 or sizes[0][0] % downsample or sizes[0][1] % downsample:
        raise ValueError(f"{probe_dir}: planted units need one segmentation size divisible by {downsample}")
    sh, sw = (int(v) for v in sizes[0])
    n = len(probe)
    rng = np.random.default_rng(seed)
    units = len(labels) + noise_units
    acts = np.empty((n, units, sh // downsample, sw // downsample), np.float32)
    coverage = np.zeros(len(labels))
    for start in range(0, n, 256):
        idx = np.arange(start, min(n, start + 256))
        masks, _ = probe.label_masks(idx)
        for u, name in enumerate(labels):
            m = torch.from_numpy(masks[:, :, names.index(name)].reshape(len(idx), 1, sh, sw).astype(np.float32))
            acts[idx, u] = torch.nn.functional.avg_pool2d(m, downsample)[:, 0].numpy()
            coverage[u] += float(m.sum())
    # a detector fires with a strength that varies between images (as real units do), so its top
    # activations are the label's pixels in the images where it fires most; tiny noise breaks ties
    acts[:, :len(labels)] *= rng.uniform(0.5, 1.5, (n, len(labels), 1, 1)).astype(np.float32)
    acts[:, :len(labels)] += 1e-4 * rng.random((n, len(labels)) + acts.shape[2:], dtype=np.float32)
    acts[:, len(labels):] = rng.random((n, noise_units) + acts.shape[2:], dtype=np.float32)
    if activations_out:
        import h5py

        with atomic_path(activations_out) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["model"] = "planted"
            f.attrs["probe"] = str(probe_dir)
            f.create_dataset("image_index", data=np.arange(n, dtype=np.int64))
            f.create_dataset("layers/planted", data=acts, chunks=(min(256, n),) + acts.shape[1:])
    d = dissect_layer(acts, probe, np.arange(n), quantile=quantile)
    table = d.table("planted", iou_threshold)
    planted = list(labels) + ["noise"] * noise_units
    coverage_frac = coverage / (n * sh * sw)
    bound = [min(1.0, quantile / c) if c > 0 else 0.0 for c in coverage_frac] + [float("nan")] * noise_units
    df = pd.DataFrame({"unit": table["unit"], "planted": planted, "label": table["label"], "iou": table["iou"],
                       "iou_bound": bound, "interpretable": table["interpretable"]})
    df["recovered"] = [(row.label == row.planted and row.interpretable) if row.planted != "noise"
                       else not row.interpretable for row in df.itertuples()]
    write_csv(df[GROUND_TRUTH_COLUMNS], out)
    return df


def similarity(a_path: str, b_path: str, out: str, layers: list[str] | None = None,
               methods: tuple[str, ...] | list[str] = ("svcca",), keep: float | None = None, dims: int | None = None,
               conv: str = "positions", max_samples: int | None = 20000, seed: int = 0,
               pairs: list[tuple[str, str]] | None = None, pwcca_keep: float | None = None) -> pd.DataFrame:
    """Similarity of layers of two activation files (Contract 2) -> Contract 3 table. By default
    each layer of ``layers`` (default: all layers both files have) is compared with the same layer
    of the other file; ``pairs`` names (layer_a, layer_b) explicitly. ``keep`` is SVCCA's variance
    fraction (default 0.99), ``pwcca_keep`` PWCCA's (default 1.0). Both files must hold the same
    probe images in the same order. Conv layers become samples by ``conv`` (see
    :func:`pruneinterp.similarity.as_samples`; positions of layers with different spatial sizes
    are pooled to the smaller size)."""
    from .activations import open_activations
    from .similarity import METHODS, RESULT_COLUMNS, as_samples
    from .similarity import similarity as compare

    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown similarity method {m!r}; allowed: {', '.join(METHODS)}")
    rows = []
    with open_activations(a_path) as fa, open_activations(b_path) as fb:
        ia, ib = fa["image_index"][:], fb["image_index"][:]
        if len(ia) != len(ib) or (ia != ib).any():
            raise InputError(f"{a_path} and {b_path} do not hold the same probe images in the same order "
                             f"({len(ia)} vs {len(ib)} images)")
        if pairs is None:
            common = [name for name in fa["layers"] if name in fb["layers"]]
            wanted = layers or common
            missing = [name for name in wanted if name not in common]
            if missing:
                raise InputError(f"layers {missing} are not in both {a_path} and {b_path}; common: {', '.join(common)}")
            pairs = [(name, name) for name in wanted]
        for la, lb in pairs:
            for path, f, name in ((a_path, fa, la), (b_path, fb, lb)):
                if name not in f["layers"]:
                    raise InputError(f"{path}: no layer {name!r}; available: {', '.join(f['layers'])}")
            xa, xb = fa["layers"][la][:], fb["layers"][lb][:]
            size = None
            if xa.ndim == 4 and xb.ndim == 4 and conv == "positions":
                size = (min(xa.shape[2], xb.shape[2]), min(xa.shape[3], xb.shape[3]))
            sa = as_samples(xa, conv, max_samples, seed, size)
            sb = as_samples(xb, conv, max_samples, seed, size)
            for m in methods:
                r = compare(m, sa, sb, keep={"svcca": keep, "pwcca": pwcca_keep}.get(m), dims=dims)
                rows.append({"layer_a": la, "layer_b": lb, "method": m, "similarity": r.similarity,
                             "dims_a": r.dims_a, "dims_b": r.dims_b, "n_samples": r.n_samples})
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    write_csv(df, out)
    return df


CLASS_ACCURACY_COLUMNS = ["class", "name", "n", "top1"]


def mis(activations: str, probe_dir: str, out: str, layers: list[str] | None = None,
        cfg: dict[str, Any] | None = None, backend: str = "features", weights: str | None = None,
        class_accuracy_out: str | None = None) -> pd.DataFrame:
    """Mechanistic Interpretability Score of every unit of ``layers`` (default: all layers of the
    file) -> Contract 3 table ``layer,unit,mis,n_tasks`` (constant units: mis empty, n_tasks 0).
    ``class_accuracy_out`` also writes the per-class top-1 accuracy on the probe from the file's
    logits and targets (for the class units of the last layer, von Rad & Seuffert Fig. 6)."""
    from .activations import open_activations
    from .mis import RESULT_COLUMNS, MISConfig, load_backend, mis_layer

    config = MISConfig(**(cfg or {}))
    probe = Probe(probe_dir)
    similarity = load_backend(backend, weights)
    frames = []
    with open_activations(activations) as f:
        image_index = f["image_index"][:]
        _check_probe_rows(activations, image_index, probe, probe_dir)
        available = list(f["layers"])
        for layer in layers or available:
            if layer not in available:
                raise InputError(f"{activations}: no layer {layer!r}; available: {', '.join(available)}")
            if len(image_index) < config.min_images():
                raise InputError(f"{activations}: {len(image_index)} probe images, MIS needs at least "
                                 f"{config.min_images()} (mis.n_tasks, mis.k)")
            values, n_tasks = mis_layer(f["layers"][layer][:], similarity,
                                        lambda rows: probe.images(image_index[rows]), config)
            frames.append(pd.DataFrame({"layer": layer, "unit": np.arange(len(values)), "mis": values,
                                        "n_tasks": n_tasks}, columns=RESULT_COLUMNS))
        if class_accuracy_out:
            if "logits" not in f or "targets" not in f:
                raise InputError(f"{activations}: per-class accuracy needs /logits and /targets")
            logits, targets = f["logits"][:], f["targets"][:]
            pred = logits.argmax(1)
            names = (pd.read_csv(Path(probe_dir) / "targets.csv").drop_duplicates("target").set_index("target")["class"]
                     if (Path(probe_dir) / "targets.csv").is_file() else pd.Series(dtype=str))
            rows = [{"class": c, "name": names.get(c, str(c)), "n": int((targets == c).sum()),
                     "top1": float((pred[targets == c] == c).mean()) if (targets == c).any() else float("nan")}
                    for c in range(logits.shape[1])]
            write_csv(pd.DataFrame(rows, columns=CLASS_ACCURACY_COLUMNS), class_accuracy_out)
    df = pd.concat(frames, ignore_index=True)
    write_csv(df, out)
    return df
