"""Pruning masks, built with ``torch.nn.utils.prune``.

Masks live in checkpoints as ``{dotted layer name: bool tensor shaped like its weight}``. During
training they are attached with :func:`torch.nn.utils.prune.custom_from_mask`, so every forward pass
uses ``weight = weight_orig * weight_mask`` and masked weights are exactly zero throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from .models import prunable_layers

Masks = dict[str, torch.Tensor]


def select_layers(model: nn.Module, include: list[str] | None = None, exclude: list[str] | None = None) -> dict[str, nn.Module]:
    """Prunable layers, optionally restricted to ``include`` and minus ``exclude`` (dotted names)."""
    layers = prunable_layers(model)
    for name in (include or []) + (exclude or []):
        if name not in layers:
            raise ValueError(f"unknown prunable layer {name!r}; allowed: {', '.join(layers)}")
    if include:
        layers = {n: m for n, m in layers.items() if n in include}
    return {n: m for n, m in layers.items() if n not in (exclude or [])}


def attach_masks(model: nn.Module, masks: Masks) -> None:
    """Enforce ``masks`` on ``model`` (forward pre-hooks) and zero the masked original weights."""
    layers = prunable_layers(model)
    for name, mask in masks.items():
        if name not in layers:
            raise ValueError(f"mask for unknown layer {name!r}")
        module = layers[name]
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
        with torch.no_grad():
            module.weight.mul_(mask.to(module.weight.dtype))
        prune.custom_from_mask(module, "weight", mask.to(module.weight.device))


def detach_masks(model: nn.Module) -> Masks:
    """Make the masking permanent (plain ``weight`` parameters) and return the masks."""
    masks: Masks = {}
    for name, module in prunable_layers(model).items():
        if hasattr(module, "weight_mask"):
            masks[name] = module.weight_mask.detach().bool().cpu().clone()
            prune.remove(module, "weight")
    return masks


def clean_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A plain CPU copy of ``model``'s state dict with masks applied (``weight = weight_orig * mask``)."""
    state = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("weight_mask"):
            continue
        if key.endswith("weight_orig"):
            base = key[: -len("_orig")]
            value = value * state[base + "_mask"]
            key = base
        out[key] = value.detach().cpu().contiguous().clone()
    return out


def global_magnitude(model: nn.Module, fraction: float, layers: dict[str, nn.Module], masks: Masks) -> Masks:
    """Remove ``round(fraction * remaining)`` of the surviving weights of ``layers`` with the smallest
    magnitude, one threshold over all of them (global L1 unstructured pruning).

    ``masks`` are the masks already in force (iterative pruning); the returned masks include them.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"pruning fraction must be in [0, 1), got {fraction}")
    attach_masks(model, {n: masks[n] for n in layers if n in masks})
    for name, module in layers.items():
        if not hasattr(module, "weight_mask"):
            prune.identity(module, "weight")
    remaining = int(sum(int(m.weight_mask.sum()) for m in layers.values()))
    amount = int(round(fraction * remaining))
    prune.global_unstructured(
        [(m, "weight") for m in layers.values()], pruning_method=prune.L1Unstructured, amount=amount
    )
    new = {n: m.weight_mask.detach().bool().cpu().clone() for n, m in layers.items()}
    detach_masks(model)
    return new


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

    def as_dict(self) -> dict[str, float | int]:
        return {
            "prunable_total": self.prunable_total,
            "prunable_remaining": self.prunable_remaining,
            "params_total": self.params_total,
            "params_remaining": self.params_remaining,
            "prunable_fraction_removed": self.prunable_fraction_removed,
            "params_fraction_removed": self.params_fraction_removed,
        }


def sparsity(model: nn.Module, masks: Masks, layers: dict[str, nn.Module]) -> Sparsity:
    """Counts of prunable weights (of ``layers``) and of all parameters, before and after masking."""
    prunable_total = sum(m.weight.numel() for m in layers.values())
    removed = sum(int((~masks[n]).sum()) for n in layers if n in masks)
    params_total = sum(p.numel() for p in model.parameters())
    return Sparsity(prunable_total, prunable_total - removed, params_total, params_total - removed)
