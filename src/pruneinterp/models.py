"""Model registry.

Every model exposes its prunable layers (conv and linear modules) under stable dotted names, and the
layers whose outputs are "units" for dissection (the post-activation output of a conv block, named
after the block: ``conv1`` ... ``conv4`` for :class:`ConvNet`; ``layer1`` ... ``layer4`` for ResNets).
A new model is one function registered in ``MODELS``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn


class ConvNet(nn.Module):
    """A small VGG-style CNN: four 3x3 conv blocks (conv, BatchNorm, ReLU), max-pool after blocks 1
    and 2, global average pooling and one linear classifier. ``widths`` are the channels of the four
    blocks; by default ``(width, width, 2 * width, 2 * width)``. Trains in seconds on 2 CPU cores at
    32 px."""

    def __init__(self, num_classes: int = 10, width: int = 32, in_channels: int = 3,
                 widths: tuple[int, int, int, int] | list[int] | None = None) -> None:
        super().__init__()
        if widths is None:
            widths = (width, width, 2 * width, 2 * width)
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"convnet widths must be 4 positive integers, got {widths}")
        chans = [in_channels, *widths]
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for i in range(4):
            blocks[f"conv{i + 1}"] = nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False),
                    bn=nn.BatchNorm2d(chans[i + 1]),
                    relu=nn.ReLU(inplace=True),
                )
            )
            if i in (0, 1):
                blocks[f"pool{i + 1}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chans[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))

    unit_layers = {f"conv{i}": f"features.conv{i}" for i in range(1, 5)} | {"fc": "fc"}


def _resnet(arch: str) -> Callable[..., nn.Module]:
    def build(num_classes: int = 1000, small_input: bool = False, **_: object) -> nn.Module:
        import torchvision

        model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        if small_input:  # CIFAR-style stem for 32 px inputs
            model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            model.maxpool = nn.Identity()
        model.unit_layers = {f"layer{i}": f"layer{i}" for i in range(1, 5)} | {"fc": "fc"}
        return model

    return build


MODELS: dict[str, Callable[..., nn.Module]] = {
    "convnet": ConvNet,
    "resnet18": _resnet("resnet18"),
    "resnet50": _resnet("resnet50"),
}


def build_model(name: str, **kwargs: object) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Conv and linear modules by their dotted names, in definition order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def unit_layer(model: nn.Module, name: str) -> nn.Module:
    """The module whose output holds the units of layer ``name`` (e.g. ``conv4``)."""
    mapping = getattr(model, "unit_layers", {})
    target = mapping.get(name, name)
    modules = dict(model.named_modules())
    if target not in modules:
        raise ValueError(
            f"unknown layer {name!r}; allowed: {', '.join(mapping) or ', '.join(n for n in modules if n)}"
        )
    return modules[target]
