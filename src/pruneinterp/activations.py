"""Extract layer activations of a checkpoint on a probe set into HDF5 (DESIGN.md, Contract 2), and
read such files back.

torch is imported only by the functions that run a model, so the readers (:func:`open_activations`,
:func:`class_accuracy`) serve torch-free jobs such as MIS, which would otherwise pay torch's 2.5 s
start-up in each of ~100 jobs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
import pandas as pd

from . import __version__, columns
from .data.broden import Probe
from .io import InputError, atomic_path, load_checkpoint, sha256

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of the extract stage: probe images per forward pass, and the first ``n_images``
    probe images only (None: all)."""

    batch_size: int = 250
    n_images: int | None = None


def model_from_checkpoint(path: str | os.PathLike[str]) -> "tuple[torch.nn.Module, dict]":
    from .models import build_model

    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model"], **ckpt.get("model_kwargs", {}))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise InputError(f"{path}: state dict does not fit model {ckpt['model']!r} ({exc})") from None
    return model, ckpt


def _fieldmap_or_none(model: "torch.nn.Module", name: str) -> tuple | None:
    """The layer's receptive-field map, or None (with a warning) where torch.fx cannot trace the
    model: it is optional metadata (only ``dissect.upsample: fieldmap`` needs it)."""
    from .models import fieldmap

    try:
        return fieldmap(model, name)
    except Exception as exc:  # any tracing failure of a user model
        logging.getLogger(__name__).warning("no receptive-field map for layer %s (%s: %s)", name,
                                            type(exc).__name__, exc)
        return None


def extract(checkpoint: str | os.PathLike[str], probe_dir: str | os.PathLike[str], out: str | os.PathLike[str],
            layers: list[str], batch_size: int = ExtractConfig.batch_size, device: str = "cpu",
            n_images: int | None = ExtractConfig.n_images) -> None:
    """Activations of ``layers`` on the probe's images (the first ``n_images`` if given, in probe
    order, so every model sees the same inputs in the same order)."""
    import torch

    with torch.no_grad():
        _extract(checkpoint, probe_dir, out, layers, batch_size, device, n_images)


def _extract(checkpoint: str | os.PathLike[str], probe_dir: str | os.PathLike[str], out: str | os.PathLike[str],
             layers: list[str], batch_size: int, device: str, n_images: int | None) -> None:
    import torch

    from .models import unit_layer
    from .training import Normalizer, resolve_device

    model, ckpt = model_from_checkpoint(checkpoint)
    device = str(resolve_device(device))
    model.eval().to(device)
    norm = Normalizer(**ckpt["normalization"])
    probe = Probe(probe_dir)
    captured: dict[str, torch.Tensor] = {}
    fieldmaps = {name: _fieldmap_or_none(model, name) for name in layers}  # traced before any hook is attached
    handles = []
    for name in layers:
        module = unit_layer(model, name)
        handles.append(module.register_forward_hook(
            lambda _m, _i, output, name=name: captured.__setitem__(name, output.detach().float().cpu())))
    n = len(probe) if n_images is None else min(int(n_images), len(probe))
    if n < 1:
        raise InputError(f"{probe_dir}: the probe has no images to extract activations on")
    identity = probe_identity(probe_dir)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["model"] = ckpt["model"]
        f.attrs["checkpoint_sha256"] = sha256(checkpoint)
        f.attrs["probe"] = str(Path(probe_dir))
        f.attrs["pruneinterp_version"] = __version__
        for key, value in identity.items():
            f.attrs[key] = value
        f.create_dataset("image_index", data=np.arange(n, dtype=np.int64))
        if probe.targets is not None:
            f.create_dataset("targets", data=probe.targets[:n])
        dsets: dict[str, h5py.Dataset] = {}
        logits_ds = None
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            x = norm(torch.from_numpy(probe.images(idx)).to(device))
            logits = model(x).float().cpu()
            if logits_ds is None:
                logits_ds = f.create_dataset("logits", (n, logits.shape[1]), dtype="f4")
            logits_ds[start:start + len(idx)] = logits.numpy()
            for name in layers:
                a = captured[name].numpy()
                if name not in dsets:
                    chunk = (min(batch_size, n),) + a.shape[1:]
                    dsets[name] = f.create_dataset(f"layers/{name}", (n,) + a.shape[1:], dtype="f4", chunks=chunk)
                    fm = fieldmaps[name] if a.ndim == 4 else None
                    if fm is not None:  # receptive fields in input pixels: (offset, size, step) x (y, x)
                        dsets[name].attrs["fieldmap"] = np.array(fm, dtype=np.int64)
                    f.attrs["input_size"] = np.array(x.shape[2:], dtype=np.int64)
                dsets[name][start:start + len(idx)] = a
    for h in handles:
        h.remove()


SAMPLING_ATTRS = ("similarity_conv", "similarity_max_samples", "similarity_seed")


def extract_samples(checkpoint: str | os.PathLike[str], probe_dir: str | os.PathLike[str], out: str | os.PathLike[str],
                    layers: list[str], batch_size: int = ExtractConfig.batch_size, device: str = "cpu",
                    n_images: int | None = None, conv: str = "positions", max_samples: int | None = 20000,
                    seed: int = 0) -> None:
    """What the similarity stage uses, kept instead of the activations: the file of :func:`extract`
    (same attributes, ``/image_index``, ``/logits``), but each ``/layers/<name>`` holds the layer's
    samples, (samples, C) by :func:`pruneinterp.similarity.as_samples` with ``conv``, ``max_samples``
    and ``seed`` (the same rows for every model), recorded as root attributes ``similarity_*``. The
    similarity stage reads it like an activations file whose layers are already samples, so a
    similarity measure or its settings can change without extracting again; at paper scale the
    full activations would be a GPU pass and gigabytes per checkpoint."""
    import tempfile

    from .similarity import as_samples

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, full = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".full.tmp", dir=out.parent)
    os.close(fd)
    try:
        extract(checkpoint, probe_dir, full, layers, batch_size, device, n_images)
        with h5py.File(full, "r") as src, atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
            for key, value in src.attrs.items():
                f.attrs[key] = value
            f.attrs["similarity_conv"] = conv
            f.attrs["similarity_max_samples"] = -1 if max_samples is None else int(max_samples)
            f.attrs["similarity_seed"] = int(seed)
            for name in ("image_index", "targets", "logits"):
                if name in src:
                    f.create_dataset(name, data=src[name][:])
            for name in layers:
                acts = src["layers"][name][:]
                x = np.ascontiguousarray(as_samples(acts, conv, max_samples, seed))
                ds = f.create_dataset(f"layers/{name}", data=x, dtype=x.dtype)
                ds.attrs["activation_shape"] = np.array(acts.shape, dtype=np.int64)
    finally:
        Path(full).unlink(missing_ok=True)


def probe_identity(probe_dir: str | os.PathLike[str]) -> dict[str, object]:
    """What identifies a probe set (Contract 2): the SHA-256 of its ``index.csv`` and its image count."""
    index = Path(probe_dir) / "index.csv"
    if not index.is_file():
        raise InputError(f"{probe_dir}: not a probe directory (no index.csv)")
    with open(index, "rb") as fh:
        rows = max(0, sum(1 for _ in fh) - 1)
    return {"probe_index_sha256": sha256(index), "probe_images": rows}


def check_probe(f: h5py.File, activations: str | os.PathLike[str], probe: Probe,
                probe_dir: str | os.PathLike[str]) -> np.ndarray:
    """The file's ``image_index``, after checking that its activations were extracted on this probe:
    same ``index.csv`` hash and image count as recorded at extraction (files from before the record
    are checked by their row numbers only). Activations of another probe would otherwise give a
    complete-looking wrong table."""
    image_index = f["image_index"][:]
    if "probe_index_sha256" in f.attrs:
        have = probe_identity(probe_dir)
        want = {"probe_index_sha256": str(f.attrs["probe_index_sha256"]), "probe_images": int(f.attrs["probe_images"])}
        if have != want:
            raise InputError(f"{activations}: extracted on another probe than {probe_dir} (index.csv sha256 "
                             f"{want['probe_index_sha256'][:12]}…, {want['probe_images']} images; given "
                             f"{have['probe_index_sha256'][:12]}…, {have['probe_images']} images)")
    if image_index.max(initial=-1) >= len(probe):
        raise InputError(f"{activations}: image_index exceeds the {len(probe)} images of {probe_dir}")
    return image_index


def open_activations(path: str | os.PathLike[str]) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: activations file not found")
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc})") from None
    if "layers" not in f or "image_index" not in f:
        f.close()
        raise InputError(f"{path}: not an activations file (needs /layers and /image_index)")
    return f


def class_accuracy(f: h5py.File, path: str | os.PathLike[str], probe_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Per class: the probe images of that class, and the top-1 accuracy on them from the file's
    ``/logits`` and ``/targets`` (class names from the probe's ``targets.csv`` where it has one)."""
    if "logits" not in f or "targets" not in f:
        raise InputError(f"{path}: per-class accuracy needs /logits and /targets")
    logits, targets = f["logits"][:], f["targets"][:]
    pred = logits.argmax(1)
    names_file = Path(probe_dir) / "targets.csv"
    names = (pd.read_csv(names_file).drop_duplicates("target").set_index("target")["class"]
             if names_file.is_file() else pd.Series(dtype=str))
    rows = [{"class": c, "name": names.get(c, str(c)), "n": int((targets == c).sum()),
             "top1": float((pred[targets == c] == c).mean()) if (targets == c).any() else float("nan")}
            for c in range(logits.shape[1])]
    return pd.DataFrame(rows, columns=columns.CLASS_ACCURACY)
