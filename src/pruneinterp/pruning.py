"""Pruning masks, built with ``torch.nn.utils.prune``.

Masks live in checkpoints as ``{parameter name: bool tensor shaped like the parameter}``, e.g.
``"features.conv1.conv.weight"``; structured pruning also masks the BatchNorm scale and shift of a
removed channel (``"features.conv1.bn.weight"``, ``"...bn.bias"``) so the channel is really silent.
During training masks are attached with :func:`torch.nn.utils.prune.custom_from_mask`, so every
forward pass uses ``param = param_orig * param_mask`` and masked values are exactly zero throughout.

Methods (``METHODS``; every one takes the masks already in force and prunes among what survives):

* ``magnitude_global``: ``round(f * remaining)`` weights with the smallest |w| over all layers.
* ``magnitude_layerwise``: ``round(f * remaining in the layer)`` smallest |w| in every layer.
* ``structured_l1`` / ``structured_l2``: whole output channels (``dim=0``) with the smallest L1/L2
  norm, ``round(f * remaining channels)`` per layer; the classifier (last linear layer) is skipped,
  since its outputs are the classes.
* ``connection_l1``: whole input channels (``dim=1``) of every layer by L1 norm.
* ``random_<method>``: the same per-layer counts as ``<method>``, chosen at random (seeded).

``layer_scale`` ({layer: factor}) prunes a layer at ``factor`` times the fraction (Frankle & Carbin
prune the output layer at half the rate); such layers are pruned on their own, outside the global
pool of ``magnitude_global``. :func:`random_mask_like` draws a random mask with the same per-layer
counts as a given one (Blakeney et al.'s random sparse initialisation).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn.utils import prune

from .models import prunable_layers

Masks = dict[str, torch.Tensor]


@dataclass(frozen=True)
class PruneConfig:
    """Settings of the prune stage: the method, the fraction of the surviving prunable weights it
    removes (one-shot from a dense network: the target), the prunable layers (``include``, default
    every conv and linear layer, minus ``exclude``) and per-layer factors on the fraction."""

    method: str = "magnitude_global"
    fraction: float = 0.2
    include: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    layer_scale: dict[str, float] = field(default_factory=dict)


def select_layers(model: nn.Module, include: list[str] | None = None, exclude: list[str] | None = None) -> dict[str, nn.Module]:
    """Prunable layers, optionally restricted to ``include`` and minus ``exclude`` (dotted names)."""
    layers = prunable_layers(model)
    for name in (include or []) + (exclude or []):
        if name not in layers:
            raise ValueError(f"unknown prunable layer {name!r}; allowed: {', '.join(layers)}")
    if include:
        layers = {n: m for n, m in layers.items() if n in include}
    return {n: m for n, m in layers.items() if n not in (exclude or [])}


def _split(param_name: str) -> tuple[str, str]:
    module, _, param = param_name.rpartition(".")
    return module, param


def check_masks(model: nn.Module, masks: Masks) -> None:
    """Every mask names a parameter of ``model`` and has its shape (a mask of another model fails
    here, in one sentence, instead of deep inside ``torch.nn.utils.prune``)."""
    modules = dict(model.named_modules())
    for key, mask in masks.items():
        name, param = _split(key)
        target = getattr(modules[name], param, None) if name in modules else None
        if not isinstance(target, torch.Tensor):
            raise ValueError(f"mask for {key!r}, which the model does not have: a mask of a different model")
        if tuple(mask.shape) != tuple(target.shape):
            raise ValueError(f"mask for {key!r} has shape {tuple(mask.shape)}, the model's parameter "
                             f"{tuple(target.shape)}: a mask of a different model")


def attach_masks(model: nn.Module, masks: Masks) -> None:
    """Enforce ``masks`` on ``model`` (forward pre-hooks) and zero the masked original values."""
    check_masks(model, masks)
    modules = dict(model.named_modules())
    for key, mask in masks.items():
        name, param = _split(key)
        module = modules[name]
        if hasattr(module, f"{param}_mask"):
            prune.remove(module, param)
        with torch.no_grad():
            getattr(module, param).mul_(mask.to(getattr(module, param).dtype))
        prune.custom_from_mask(module, param, mask.to(getattr(module, param).device))


def detach_masks(model: nn.Module) -> Masks:
    """Make the masking permanent (plain parameters again) and return the masks."""
    masks: Masks = {}
    for name, module in model.named_modules():
        for buffer_name, buffer in list(module.named_buffers(recurse=False)):
            if buffer_name.endswith("_mask"):
                param = buffer_name[: -len("_mask")]
                masks[f"{name}.{param}"] = buffer.detach().bool().cpu().clone()
                prune.remove(module, param)
    return masks


@contextlib.contextmanager
def masked(model: nn.Module, masks: Masks) -> Iterator[nn.Module]:
    """Within the block ``model`` runs with ``masks`` enforced (:func:`attach_masks`); on leaving
    it the masking is made permanent (plain parameters, masked values zero), also on an error."""
    attach_masks(model, masks)
    try:
        yield model
    finally:
        detach_masks(model)


def clean_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A plain CPU copy of ``model``'s state dict with masks applied (``p = p_orig * p_mask``)."""
    state = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("_mask") and key[: -len("_mask")] + "_orig" in state:
            continue
        if key.endswith("_orig"):
            key = key[: -len("_orig")]
            value = value * state[key + "_mask"]
        out[key] = value.detach().cpu().contiguous().clone()
    return out


def following_batchnorm(model: nn.Module, layer: str) -> nn.BatchNorm2d | None:
    """The BatchNorm that normalises ``layer``'s output channels, by the naming conventions of the
    models here and of torchvision (``conv`` -> ``bn``, ``convK`` -> ``bnK``, ``downsample.0`` ->
    ``downsample.1``); None if there is none."""
    modules = dict(model.named_modules())
    parent, _, leaf = layer.rpartition(".")
    candidates = [leaf.replace("conv", "bn")] + (["1"] if leaf == "0" else [])
    conv = modules[layer]
    for cand in candidates:
        bn = modules.get(f"{parent}.{cand}" if parent else cand)
        if isinstance(bn, nn.BatchNorm2d) and isinstance(conv, nn.Conv2d) and bn.num_features == conv.out_channels:
            return bn
    return None


def _with_existing(model: nn.Module, layers: dict[str, nn.Module], masks: Masks) -> None:
    attach_masks(model, {k: v for k, v in masks.items() if _split(k)[0] in layers and k.endswith(".weight")})
    for module in layers.values():
        if not hasattr(module, "weight_mask"):
            prune.identity(module, "weight")


def _collect(model: nn.Module, layers: dict[str, nn.Module], masks: Masks) -> Masks:
    """Read the weight masks off ``layers``, detach all masking, keep other earlier masks."""
    new = {f"{n}.weight": m.weight_mask.detach().bool().cpu().clone() for n, m in layers.items()}
    detach_masks(model)
    return {**{k: v for k, v in masks.items() if k not in new}, **new}


def _count(fraction: float, remaining: int) -> int:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"pruning fraction must be in [0, 1), got {fraction}")
    return int(round(fraction * remaining))


def global_magnitude(model: nn.Module, fraction: float, layers: dict[str, nn.Module], masks: Masks) -> Masks:
    """Remove ``round(fraction * remaining)`` of the surviving weights of ``layers`` with the smallest
    magnitude, one threshold over all of them (global L1 unstructured pruning)."""
    _with_existing(model, layers, masks)
    remaining = int(sum(int(m.weight_mask.sum()) for m in layers.values()))
    prune.global_unstructured([(m, "weight") for m in layers.values()], pruning_method=prune.L1Unstructured,
                              amount=_count(fraction, remaining))
    return _collect(model, layers, masks)


def layerwise_magnitude(model: nn.Module, fraction: float, layers: dict[str, nn.Module], masks: Masks) -> Masks:
    _with_existing(model, layers, masks)
    for module in layers.values():
        prune.l1_unstructured(module, "weight", amount=_count(fraction, int(module.weight_mask.sum())))
    return _collect(model, layers, masks)


def _alive_channels(module: nn.Module, dim: int) -> int:
    mask = module.weight_mask
    other = [d for d in range(mask.ndim) if d != dim]
    return int((mask.sum(dim=other) > 0).sum())


def _structured(norm: int, dim: int) -> Callable[..., Masks]:
    def method(model: nn.Module, fraction: float, layers: dict[str, nn.Module], masks: Masks) -> Masks:
        if dim == 0:  # removing output channels of the classifier would remove classes
            last_linear = [n for n, m in layers.items() if isinstance(m, nn.Linear)][-1:]
            layers = {n: m for n, m in layers.items() if n not in last_linear}
        _with_existing(model, layers, masks)
        for module in layers.values():
            prune.ln_structured(module, "weight", amount=_count(fraction, _alive_channels(module, dim)), n=norm,
                                dim=dim)
        out = _collect(model, layers, masks)
        if dim == 0:
            out.update(_batchnorm_masks(model, layers, out))
        return out

    return method


def _batchnorm_masks(model: nn.Module, layers: dict[str, nn.Module], masks: Masks) -> Masks:
    out: Masks = {}
    names = {m: n for n, m in model.named_modules()}
    for name, module in layers.items():
        bn = following_batchnorm(model, name)
        if bn is None:
            continue
        alive = masks[f"{name}.weight"].flatten(1).any(dim=1)
        out[f"{names[bn]}.weight"] = alive.clone()
        out[f"{names[bn]}.bias"] = alive.clone()
    return out


def _random_like(base: Callable[..., Masks], dim: int | None) -> Callable[..., Masks]:
    """Same per-layer counts as ``base`` (weights, or whole channels along ``dim``), chosen at random
    among the survivors with ``torch``'s generator seeded by ``seed``."""

    def method(model: nn.Module, fraction: float, layers: dict[str, nn.Module], masks: Masks,
               seed: int = 0) -> Masks:
        reference = base(model, fraction, layers, masks)
        gen = torch.Generator().manual_seed(seed)
        out = dict(masks)
        for key, ref in reference.items():
            name, param = _split(key)
            if param != "weight" or name not in layers:
                continue
            old = masks.get(key, torch.ones_like(ref))
            if dim is None:
                n_remove = int(old.sum()) - int(ref.sum())
                alive = torch.nonzero(old.flatten()).flatten()
                drop = alive[torch.randperm(len(alive), generator=gen)[:n_remove]]
                new = old.flatten().clone()
                new[drop] = False
                out[key] = new.view_as(old)
            else:
                other = [d for d in range(ref.ndim) if d != dim]
                old_alive = old.sum(dim=other) > 0
                n_remove = int(old_alive.sum()) - int((ref.sum(dim=other) > 0).sum())
                alive = torch.nonzero(old_alive).flatten()
                drop = alive[torch.randperm(len(alive), generator=gen)[:n_remove]]
                keep = old_alive.clone()
                keep[drop] = False
                shape = [1] * ref.ndim
                shape[dim] = -1
                out[key] = old & keep.view(shape)
        if dim == 0:
            out = {k: v for k, v in out.items() if not _is_bn_key(model, k)}
            out.update(_batchnorm_masks(model, {n: m for n, m in layers.items() if f"{n}.weight" in reference}, out))
        return out

    return method


def _is_bn_key(model: nn.Module, key: str) -> bool:
    return isinstance(dict(model.named_modules()).get(_split(key)[0]), nn.BatchNorm2d)


def _deterministic(method: Callable[..., Masks]) -> Callable[..., Masks]:
    def run(model: nn.Module, fraction: float, layers: dict[str, nn.Module], masks: Masks, seed: int = 0) -> Masks:
        return method(model, fraction, layers, masks)

    return run


METHODS: dict[str, Callable[..., Masks]] = {
    "magnitude_global": _deterministic(global_magnitude),
    "magnitude_layerwise": _deterministic(layerwise_magnitude),
    "structured_l1": _deterministic(_structured(1, 0)),
    "structured_l2": _deterministic(_structured(2, 0)),
    "connection_l1": _deterministic(_structured(1, 1)),
}
METHODS["random_global"] = _random_like(global_magnitude, None)
METHODS["random_layerwise"] = _random_like(layerwise_magnitude, None)
METHODS["random_structured"] = _random_like(_structured(1, 0), 0)
METHODS["random_connection"] = _random_like(_structured(1, 1), 1)


def derive_seed(seed: int, *tags: object) -> int:
    """A deterministic 31-bit seed for one random choice of a run, e.g. ``derive_seed(0, "reinit", 3)``,
    so that different choices (mask, fresh weights, level) never share a random stream."""
    digest = hashlib.sha256(repr((int(seed), *tags)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def prune_masks(method: str, model: nn.Module, fraction: float, layers: dict[str, nn.Module], masks: Masks,
                seed: int = 0, layer_scale: dict[str, float] | None = None) -> Masks:
    """New masks (including ``masks``) after one pruning step of ``method``: ``fraction`` of what
    survives, or ``fraction * layer_scale[layer]`` in the layers named in ``layer_scale``."""
    if method not in METHODS:
        raise ValueError(f"unknown pruning method {method!r}; allowed: {', '.join(METHODS)}")
    layer_scale = dict(layer_scale or {})
    for name, factor in layer_scale.items():
        if name not in layers:
            raise ValueError(f"layer_scale names {name!r}, not a pruned layer; allowed: {', '.join(layers)}")
        if not 0.0 <= factor * fraction < 1.0:
            raise ValueError(f"layer_scale[{name!r}] = {factor} gives fraction {factor * fraction} outside [0, 1)")
    pooled = {n: m for n, m in layers.items() if n not in layer_scale}
    out = METHODS[method](model, fraction, pooled, masks, seed=seed) if pooled else dict(masks)
    for i, (name, factor) in enumerate(sorted(layer_scale.items())):
        out = METHODS[method](model, fraction * factor, {name: layers[name]}, out,
                              seed=derive_seed(seed, "layer_scale", i))
    return out


STRUCTURE_DIM = {"structured_l1": 0, "structured_l2": 0, "random_structured": 0, "connection_l1": 1,
                 "random_connection": 1}


def random_mask_like(masks: Masks, model: nn.Module, layers: dict[str, nn.Module], seed: int,
                     dim: int | None = None) -> Masks:
    """A random mask with exactly the per-layer counts of ``masks`` (Blakeney et al.'s random sparse
    initialisation): every layer keeps as many weights as before (``dim=None``), or as many whole
    output (``dim=0``, BatchNorm masked to match) or input (``dim=1``) channels, drawn uniformly."""
    gen = torch.Generator().manual_seed(seed)
    out: Masks = {}
    for name in layers:
        key = f"{name}.weight"
        if key not in masks:
            continue
        old = masks[key]
        if dim is None or (dim == 0 and old.ndim < 2):
            flat = torch.zeros(old.numel(), dtype=torch.bool)
            flat[torch.randperm(old.numel(), generator=gen)[: int(old.sum())]] = True
            out[key] = flat.view_as(old)
            continue
        other = [d for d in range(old.ndim) if d != dim]
        alive = old.sum(dim=other) > 0
        keep = torch.zeros(old.shape[dim], dtype=torch.bool)
        keep[torch.randperm(old.shape[dim], generator=gen)[: int(alive.sum())]] = True
        shape = [1] * old.ndim
        shape[dim] = -1
        out[key] = keep.view(shape).expand_as(old).clone()
    if dim == 0:
        out.update(_batchnorm_masks(model, {n: m for n, m in layers.items() if f"{n}.weight" in out}, out))
    return out


@dataclass(frozen=True)
class Sparsity:
    prunable_total: int
    prunable_remaining: int
    params_total: int
    params_remaining: int

    @property
    def prunable_fraction_removed(self) -> float:
        return 1.0 - self.prunable_remaining / self.prunable_total

    @property
    def params_fraction_removed(self) -> float:
        return 1.0 - self.params_remaining / self.params_total

    layers: tuple[tuple[str, int, int], ...] = ()  # (parameter name, total, remaining) per pruned layer

    def as_dict(self) -> dict[str, object]:
        return {
            "layers": [list(t) for t in self.layers],
            "prunable_total": self.prunable_total,
            "prunable_remaining": self.prunable_remaining,
            "params_total": self.params_total,
            "params_remaining": self.params_remaining,
            "prunable_fraction_removed": self.prunable_fraction_removed,
            "params_fraction_removed": self.params_fraction_removed,
        }


def sparsity(model: nn.Module, masks: Masks, layers: dict[str, nn.Module]) -> Sparsity:
    """Counts of prunable weights (of ``layers``) and of all parameters, before and after masking.
    A masked BatchNorm scale or shift counts as a removed parameter, not as a prunable weight."""
    prunable_total = sum(m.weight.numel() for m in layers.values())
    prunable_removed = sum(int((~masks[f"{n}.weight"]).sum()) for n in layers if f"{n}.weight" in masks)
    params_total = sum(p.numel() for p in model.parameters())
    params_removed = sum(int((~m).sum()) for m in masks.values())
    per_layer = tuple(
        (f"{n}.weight", m.weight.numel(),
         m.weight.numel() - (int((~masks[f"{n}.weight"]).sum()) if f"{n}.weight" in masks else 0))
        for n, m in layers.items()
    )
    return Sparsity(prunable_total, prunable_total - prunable_removed, params_total, params_total - params_removed,
                    per_layer)
