"""The workflow's stages as plain functions: each reads files and writes files (atomically).

The CLI (:mod:`pruneinterp.cli`) and the Snakemake scripts (``workflow/scripts``) only unpack their
arguments and call these, by keyword. A stage's settings are a dataclass next to its method
(:class:`~pruneinterp.training.TrainConfig`, :class:`~pruneinterp.pruning.PruneConfig`,
:class:`~pruneinterp.retraining.FinetuneConfig`, :class:`~pruneinterp.dissection.DissectConfig`,
:class:`~pruneinterp.similarity.SimilarityConfig`, :class:`~pruneinterp.mis.MISConfig`); stages take
the dataclass or a mapping of its fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from . import columns, retraining
from .data import shapes
from .data.broden import Probe, write_shapes_probe
from .data.shapes import DataConfig
from .io import InputError, atomic_path, atomic_paths, load_checkpoint, save_checkpoint, write_csv
from .models import build_model
from .pruning import PruneConfig, clean_state_dict, derive_seed, masked, prune_masks, select_layers, sparsity
from .retraining import FinetuneConfig
from .settings import as_config
from .training import Normalizer, TrainConfig, evaluate, resolve_device, train
from .mis import score_file as mis  # noqa: F401  (the MIS stage lives with its method: its job needs no torch)

if TYPE_CHECKING:
    from .dissection import DissectConfig
    from .similarity import SimilarityConfig


def make_data(out_dir: str | os.PathLike[str], n_train: int = DataConfig.n_train, n_val: int = DataConfig.n_val,
              n_probe: int = DataConfig.n_probe, seed: int = DataConfig.seed,
              spec: dict[str, Any] | None = None, force: bool = False) -> None:
    """Generate the shapes dataset: ``train.npz``, ``val.npz`` and the Broden-format ``probe/``. An
    existing, non-empty ``out_dir`` is written into only if pruneinterp generated it, or ``force``."""
    from .io import check_replaceable, mark

    out = Path(out_dir)
    check_replaceable(out, force)
    check_replaceable(out / "probe", force)  # before anything is written
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_probe", n_probe)):
        if n < 1:
            raise InputError(f"{name} must be at least 1; got {n}")
    sp = shapes.ShapesSpec(**(spec or {}))
    out.mkdir(parents=True, exist_ok=True)
    mark(out, "make-data")
    for split, n in (("train", n_train), ("val", n_val)):
        images, targets = shapes.generate_arrays(sp, n, seed, split)
        with atomic_path(out / f"{split}.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, images=images, targets=targets, classes=np.array(shapes.SHAPES))
    write_shapes_probe(out / "probe", n_probe, seed, sp, force=force)


def make_probe(out_dir: str | os.PathLike[str], n: int = DataConfig.n_probe, seed: int = DataConfig.seed,
               spec: dict[str, Any] | None = None, force: bool = False) -> None:
    write_shapes_probe(out_dir, n, seed, shapes.ShapesSpec(**(spec or {})), force=force)


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
    return df[columns.METRICS]


def _network(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> torch.nn.Module:
    """The checkpoint's network with its weights, its masks checked against it; errors name the file."""
    from .pruning import check_masks

    try:
        net = build_model(ckpt["model"], **ckpt["model_kwargs"])
        net.load_state_dict(ckpt["state_dict"])
        check_masks(net, ckpt.get("masks") or {})
    except KeyError as exc:
        raise InputError(f"{path}: checkpoint lacks {exc}") from None
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{path}: {str(exc).strip().splitlines()[0]}") from None
    return net


def _rank() -> int:
    """This process's rank in a torch.distributed run (``torchrun``), 0 otherwise: only rank 0 writes."""
    from .training import _distributed

    return _distributed()[1]


def resume_path(checkpoint: str | os.PathLike[str]) -> str:
    """Where a training run that will write ``checkpoint`` keeps its per-epoch state until it
    completes (:func:`pruneinterp.training.train`'s ``resume``): a hidden file beside it, which a
    killed job leaves for its rerun (Snakemake removes only a failed job's outputs)."""
    path = Path(checkpoint)
    return str(path.with_name(f".{path.name}.resume"))


def train_dense(train_path: str, val_path: str, out: dict[str, str], model: str,
                model_kwargs: dict[str, Any] | None = None, train_cfg: TrainConfig | dict[str, Any] | None = None,
                seed: int = 0, rewind_iteration: int = 0, device: str = "cpu", workers: int = 0) -> None:
    """Train a dense model. ``out`` has paths ``init``, ``rewind``, ``checkpoint``, ``metrics``.
    ``workers``: DataLoader worker processes reading the batches (the results do not depend on it)."""
    data = {"train": load_split(train_path), "val": load_split(val_path)}
    cfg = as_config(TrainConfig, train_cfg)
    model_kwargs = model_kwargs or {}
    torch.manual_seed(seed)
    kwargs = {"num_classes": _num_classes(data), **model_kwargs}
    net = build_model(model, **kwargs)
    images = data["train"][0]
    # the input normalisation: from all training images in memory, or a seeded sample of those on disk
    norm = Normalizer.fit(images.sample(2000, seed) if hasattr(images, "sample") else images.numpy())
    result = train(net, data, cfg, seed, norm, capture_iterations=(0, rewind_iteration), device=resolve_device(device),
                   resume=resume_path(out["checkpoint"]), workers=workers)
    if _rank() != 0:  # several processes (torchrun): the same weights everywhere, rank 0 writes them
        return
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


def prune(checkpoint: str, out: str, method: str = PruneConfig.method, fraction: float = PruneConfig.fraction,
          include: list[str] | None = None, exclude: list[str] | None = None, seed: int = 0,
          layer_scale: dict[str, float] | None = None, level: int | None = None) -> None:
    """Prune ``fraction`` of the surviving prunable weights of a trained checkpoint (its own mask stays
    in force) and save the new mask with the checkpoint's weights, masked: the pruned, not yet
    retrained network. ``level`` (default: the checkpoint's level + 1) names the result; a one-shot
    schedule prunes the dense checkpoint straight to its target, so its level is the target's index.
    Random methods draw from ``derive_seed(seed, "prune", level)``. The settings are
    :class:`~pruneinterp.pruning.PruneConfig`'s fields."""
    ckpt = load_checkpoint(checkpoint)
    net = _network(ckpt, checkpoint)
    layers = select_layers(net, include, exclude)
    level = int(ckpt.get("level", 0)) + 1 if level is None else int(level)
    masks = prune_masks(method, net, fraction, layers, ckpt.get("masks", {}), seed=derive_seed(seed, "prune", level),
                        layer_scale=layer_scale)
    net.load_state_dict(ckpt["state_dict"])  # the method may have zeroed weights it chose itself
    with masked(net, masks):  # leaving the block makes the masked weights zero
        pass
    sp = sparsity(net, masks, layers)
    save_checkpoint(out, {**{k: ckpt[k] for k in ("model", "model_kwargs", "normalization", "seed")},
                          "state_dict": net.state_dict(), "masks": masks, "sparsity": sp.as_dict(),
                          "prunable_layers": list(layers), "level": level, "method": method, "fraction": fraction})


RETRAIN_STRATEGIES = tuple(retraining.STRATEGIES)


def retrain(pruned_path: str, train_path: str, val_path: str, out: dict[str, str], strategy: str,
            train_cfg: TrainConfig | dict[str, Any] | None, seed: int, ident: dict[str, Any],
            rewind_path: str | None = None, finetune: FinetuneConfig | dict[str, Any] | None = None,
            device: str = "cpu", epochs_dir: str | None = None, workers: int = 0) -> None:
    """Recover a pruned network (``pruned_path``, written by :func:`prune`) with one strategy of
    :data:`pruneinterp.retraining.STRATEGIES` (rewind, finetune_sgd/finetune_adam, reinit,
    random_reinit, none); the mask is enforced throughout and the result saved with per-epoch
    metrics. ``train_cfg`` is the dense run's training settings; ``finetune`` the fine-tuning ones.

    ``epochs_dir`` also saves the network before retraining and after every epoch as
    ``epochs_dir/epoch<e>/checkpoint.pt`` (e = 0 .. epochs), e.g. to follow its representations.
    ``workers``: DataLoader worker processes reading the batches (the results do not depend on it).
    """
    strat = retraining.get(strategy)
    pruned = load_checkpoint(pruned_path)
    _network(pruned, pruned_path)  # a mask of another model: one line naming the file
    level = int(pruned["level"])
    data = {"train": load_split(train_path), "val": load_split(val_path)}
    norm = Normalizer(**pruned["normalization"])
    dev = resolve_device(device)
    train_settings = vars(train_cfg) if isinstance(train_cfg, TrainConfig) else dict(train_cfg or {})
    ctx = retraining.Context(pruned, train_settings, as_config(FinetuneConfig, finetune), seed, rewind_path)
    start = strat.start(ctx)
    net, masks = start.net, start.masks
    sp = start.sparsity or pruned["sparsity"]
    keep = {k: pruned[k] for k in ("model", "model_kwargs", "normalization", "seed")}
    if not strat.trains:
        with masked(net.to(dev), masks):
            top1, loss = evaluate(net, *data["val"], norm, start.cfg, dev, workers=workers)
        net.to("cpu")
        metrics = [{"epoch": 0, "split": "val", "top1": top1, "loss": loss}]
    else:
        def save_epoch(epoch: int, model: torch.nn.Module) -> None:
            if _rank() != 0:
                return
            save_checkpoint(f"{epochs_dir}/epoch{epoch}/checkpoint.pt",
                            {**keep, "state_dict": clean_state_dict(model), "masks": masks, "level": level,
                             "retrain": strategy, "epoch": epoch})

        if epochs_dir is not None:
            with masked(net, masks):
                save_epoch(0, net)
        torch.manual_seed(seed)
        result = train(net, data, start.cfg, seed, norm, masks=masks, start_iteration=start.iteration, device=dev,
                       evaluate_before=strat.optimizer is not None,
                       on_epoch=save_epoch if epochs_dir is not None else None,
                       resume=resume_path(out["checkpoint"]) if epochs_dir is None else None, workers=workers)
        metrics = result.metrics
    if _rank() != 0:
        return
    save_checkpoint(out["checkpoint"], {**keep, "state_dict": net.state_dict(), "masks": masks, "sparsity": sp,
                                        "prunable_layers": pruned.get("prunable_layers"), "level": level,
                                        "retrain": strategy})
    ident = {"model": pruned["model"], **ident, "seed": seed, "level": level,
             "sparsity": sp["prunable_fraction_removed"]}
    write_csv(_metrics_frame(metrics, ident), out["metrics"])


def dissect(activations: str, probe_dir: str, out: str, cfg: "DissectConfig | dict[str, Any] | None" = None,
            layers: list[str] | None = None, device: str = "cpu", iou_out: str | None = None,
            bootstrap_out: str | None = None) -> pd.DataFrame:
    """Dissect the layers of an activations file (default: all of its layers): the Contract 3 table
    (best label per unit) to ``out``; optionally the full IoU matrices (HDF5) to ``iou_out`` and,
    with ``bootstrap_out`` and ``cfg.bootstrap.replicates`` > 0, per-replicate counts of
    interpretable units and unique concepts to ``bootstrap_out``."""
    from .activations import check_probe, open_activations
    from .dissection import DissectConfig, dissect_layer, write_iou_file

    cfg = as_config(DissectConfig, cfg)
    probe = Probe(probe_dir)
    device = str(resolve_device(device))
    boot = cfg.bootstrap if bootstrap_out and cfg.bootstrap.replicates > 0 else None
    tables, boots, results = [], [], {}
    with open_activations(activations) as f:
        available = list(f["layers"])
        image_index = check_probe(f, activations, probe, probe_dir)
        for layer in layers or available:
            if layer not in available:
                raise InputError(f"{activations}: no layer {layer!r}; available: {', '.join(available)}")
            if f["layers"][layer].ndim != 4:
                raise InputError(f"{activations}: layer {layer!r} is not a conv layer (N, C, H, W); "
                                 f"dissection needs spatial maps")
            geometry = {}
            if cfg.upsample == "fieldmap":
                attrs = f["layers"][layer].attrs
                if "fieldmap" not in attrs or "input_size" not in f.attrs:
                    raise InputError(f"{activations}: layer {layer!r} has no receptive-field map (extracted by an "
                                     f"older version); extract it again, or use dissect.upsample bilinear")
                geometry = {"fieldmap": attrs["fieldmap"], "input_size": tuple(f.attrs["input_size"])}
            d = dissect_layer(f["layers"][layer], probe, image_index, quantile=cfg.quantile, device=device,
                              budget=cfg.budget, bootstrap=boot, **geometry)
            results[layer] = d
            tables.append(d.table(layer, cfg.iou_threshold))
            boots.append(d.bootstrap_table(layer, cfg.iou_threshold))
        source_attrs = {"model": str(f.attrs.get("model", "")), "checkpoint_sha256": str(f.attrs.get("checkpoint_sha256", ""))}
    df = pd.concat(tables, ignore_index=True)
    with atomic_paths(iou_out, bootstrap_out, out) as (iou_tmp, boot_tmp, out_tmp):  # all or nothing
        if iou_tmp:
            write_iou_file(iou_tmp, results, {"activations": str(activations), "probe": str(probe_dir),
                                              "quantile": cfg.quantile, **source_attrs})
        if boot_tmp:
            frames = [b for b in boots if len(b)]
            write_csv(pd.concat(frames, ignore_index=True) if frames
                      else pd.DataFrame(columns=columns.DISSECTION_BOOTSTRAP), boot_tmp)
        write_csv(df, out_tmp)
    return df


def similarity(a_path: str, b_path: str, out: str, cfg: "SimilarityConfig | dict[str, Any] | None" = None,
               layers: list[str] | None = None, pairs: list[tuple[str, str]] | None = None,
               device: str = "cpu") -> pd.DataFrame:
    """Similarity of layers of two activation files (Contract 2) -> Contract 3 table, by each of
    ``cfg.methods``. By default each layer of ``layers`` (default: all layers both files have) is
    compared with the same layer of the other file; ``pairs`` names (layer_a, layer_b) explicitly.
    ``cfg.keep`` is SVCCA's variance fraction, ``cfg.pwcca_keep`` PWCCA's. Both files must hold the
    same probe images in the same order. Conv layers become samples by ``cfg.conv`` (see
    :func:`pruneinterp.similarity.as_samples`; positions of layers with different spatial sizes
    are pooled to the smaller size); files of :func:`pruneinterp.activations.extract_samples` hold
    samples already (2-D layers are used as they are), and both must be sampled alike."""
    from .activations import open_activations
    from .similarity import SimilarityConfig, as_samples
    from .similarity import similarity as compare

    cfg = as_config(SimilarityConfig, cfg)
    dev = resolve_device(device)  # the decompositions run there (float64)
    rows = []
    with open_activations(a_path) as fa, open_activations(b_path) as fb:
        ia, ib = fa["image_index"][:], fb["image_index"][:]
        if len(ia) != len(ib) or (ia != ib).any():
            raise InputError(f"{a_path} and {b_path} do not hold the same probe images in the same order "
                             f"({len(ia)} vs {len(ib)} images)")
        from .activations import SAMPLING_ATTRS

        sampled = [tuple(str(f.attrs.get(k, "")) for k in SAMPLING_ATTRS) for f in (fa, fb)]
        if sampled[0] != sampled[1]:
            raise InputError(f"{a_path} and {b_path} hold layers sampled differently (conv, max_samples, seed: "
                             f"{sampled[0]} vs {sampled[1]})")
        ha, hb = (str(f.attrs.get("probe_index_sha256", "")) for f in (fa, fb))
        if ha and hb and ha != hb:
            raise InputError(f"{a_path} and {b_path} were extracted on different probes (index.csv sha256 "
                             f"{ha[:12]}… vs {hb[:12]}…)")
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
            if xa.ndim == 4 and xb.ndim == 4 and cfg.conv == "positions":
                size = (min(xa.shape[2], xb.shape[2]), min(xa.shape[3], xb.shape[3]))
            sa = as_samples(xa, cfg.conv, cfg.max_samples, cfg.seed, size)
            sb = as_samples(xb, cfg.conv, cfg.max_samples, cfg.seed, size)
            for m in cfg.methods:
                r = compare(m, sa, sb, keep={"svcca": cfg.keep, "pwcca": cfg.pwcca_keep}.get(m), dims=cfg.dims,
                            device=dev)
                rows.append({"layer_a": la, "layer_b": lb, "method": m, "similarity": r.similarity,
                             "dims_a": r.dims_a, "dims_b": r.dims_b, "n_samples": r.n_samples})
    df = pd.DataFrame(rows, columns=columns.SIMILARITY)
    write_csv(df, out)
    return df
