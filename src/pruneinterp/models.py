"""Model registry.

Every model exposes its prunable layers (conv and linear modules) under stable dotted names, and the
layers whose outputs are "units" for dissection (the post-activation output of a conv block, named
after the block: ``conv1`` ... ``conv4`` for :class:`ConvNet`; ``layer1`` ... ``layer4`` for ResNets:
:class:`SmallResNet`, the default, and torchvision's ``resnet18`` / ``resnet50``).
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


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """torchvision's ``conv1x1`` (the projection shortcut's convolution)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision's ``torchvision.models.resnet.BasicBlock`` (groups 1, dilation 1, BatchNorm):
    conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU; the same submodule names, parameter
    creation order and forward, so weights, state dicts and outputs are identical (tested against
    torchvision's). Defined here because importing torchvision costs ~1.9 s per process (its ops
    import torch._dynamo): that is paid by every extraction and pruning job that builds a model and
    never trains one."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SmallResNet(nn.Module):
    """A small ResNet in torchvision's layout and naming (``conv1``, ``bn1``, ``relu``, ``maxpool``,
    ``layer1`` ... ``layer4`` of torchvision-identical :class:`BasicBlock`s, ``avgpool``, ``fc``), for 32-64 px
    inputs on a CPU. The stem is a 3x3 convolution (stride 1) and a 2x2 max-pool; layer i has
    ``blocks[i]`` blocks of ``widths[i]`` channels, the first with stride ``strides[i]`` and, where the
    shape changes, torchvision's 1x1 convolution + BatchNorm shortcut. The default (16, 32, 64, 64),
    strides (1, 2, 2, 1): at 32 px layer4 is 4x4 and, as in every non-first block of ResNet-50's
    layer4, its shortcut is the identity, so layer4's units keep a path from layer3 however hard its own
    convolutions are pruned. Initialised as torchvision initialises ResNets (Kaiming normal,
    fan_out; BatchNorm weight 1, bias 0)."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] | list[int] = (16, 32, 64, 64),
                 strides: tuple[int, ...] | list[int] = (1, 2, 2, 1), blocks: tuple[int, ...] | list[int] = (1, 1, 1, 1),
                 in_channels: int = 3, _block: tuple[type, Callable[..., nn.Module]] | None = None) -> None:
        super().__init__()
        block, projection = _block or (BasicBlock, conv1x1)  # _block: the tests' torchvision pieces
        if not (len(widths) == len(strides) == len(blocks) == 4) or min(widths) < 1 or min(blocks) < 1 \
                or min(strides) < 1:
            raise ValueError(f"resnet widths, strides and blocks must be 4 positive integers each, got {widths}, "
                             f"{strides}, {blocks}")
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(2)
        inplanes = widths[0]
        for i, (width, stride, count) in enumerate(zip(widths, strides, blocks)):
            layer = []
            for j in range(count):
                s = stride if j == 0 else 1
                down = None
                if s != 1 or inplanes != width:
                    down = nn.Sequential(projection(inplanes, width, s), nn.BatchNorm2d(width))
                layer.append(block(inplanes, width, s, down))
                inplanes = width
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    unit_layers = {f"layer{i}": f"layer{i}" for i in range(1, 5)} | {"fc": "fc"}


def _resnet(arch: str) -> Callable[..., nn.Module]:
    def build(num_classes: int = 1000, small_input: bool = False) -> nn.Module:
        import torchvision

        model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        if small_input:  # CIFAR-style stem for 32 px inputs
            model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            model.maxpool = nn.Identity()
        model.unit_layers = {f"layer{i}": f"layer{i}" for i in range(1, 5)} | {"fc": "fc"}
        return model

    return build


VGG_BLOCKS = {f"block{i + 1}": f"features.{k}" for i, k in enumerate((5, 12, 22, 32, 42))}  # each block's last ReLU


def vgg16_bn(num_classes: int = 1000, small_input: bool = False) -> nn.Module:
    """torchvision's VGG-16 with BatchNorm (random init). ``small_input`` (CIFAR, 32 px): global average
    pooling and one linear classifier on the 512 channels, as CIFAR VGGs (e.g. Blakeney et al.'s) use,
    instead of the 7x7 pooling and three 4096-wide layers meant for 224 px. Units: the last ReLU of each
    of the five conv blocks (``block1`` .. ``block5``) and ``fc``."""
    import torchvision

    model = torchvision.models.vgg16_bn(weights=None, num_classes=num_classes)
    if small_input:
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = nn.Sequential(nn.Linear(512, num_classes))
    model.unit_layers = VGG_BLOCKS | {"fc": f"classifier.{len(model.classifier) - 1}"}
    return model


GOOGLENET_UNITS = ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
                   "inception4e", "inception5a", "inception5b")


def googlenet(num_classes: int = 1000) -> nn.Module:
    """torchvision's GoogLeNet (Inception v1, von Rad & Seuffert's network), random init, without the
    auxiliary classifiers. Units: the output channels of each inception module, and ``fc``."""
    import torchvision

    model = torchvision.models.googlenet(weights=None, num_classes=num_classes, aux_logits=False, init_weights=True)
    model.unit_layers = {name: name for name in GOOGLENET_UNITS} | {"fc": "fc"}
    return model


MODELS: dict[str, Callable[..., nn.Module]] = {
    "convnet": ConvNet,
    "resnet": SmallResNet,
    "resnet18": _resnet("resnet18"),
    "resnet34": _resnet("resnet34"),
    "resnet50": _resnet("resnet50"),
    "vgg16_bn": vgg16_bn,
    "googlenet": googlenet,
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


# ---- receptive-field maps (NetDissect's ``fieldmap``) ----------------------------------------------

Fieldmap = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # (offset, size, step), each (y, x)
IDENTITY_FIELDMAP: Fieldmap = ((0, 0), (1, 1), (1, 1))


def _pair(v: object) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))  # type: ignore[index]


def compose_fieldmap(lower: Fieldmap | None, upper: Fieldmap | None) -> Fieldmap | None:
    """The field map of ``upper`` applied after ``lower`` (NetDissect's ``compose_fieldmap``); None
    (a global pooling) absorbs everything."""
    if lower is None or upper is None:
        return None
    (o1, s1, t1), (o2, s2, t2) = lower, upper
    return (tuple(b * t + a for a, b, t in zip(o1, o2, t1)),  # type: ignore[return-value]
            tuple((b - 1) * t + a for a, b, t in zip(s1, s2, t1)),
            tuple(b * a for a, b in zip(t1, t2)))


def _own_fieldmap(module: nn.Module) -> Fieldmap | None:
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return None
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = _pair(module.kernel_size), _pair(module.stride), _pair(module.padding)
        d = _pair(getattr(module, "dilation", 1))
        return ((-p[0], -p[1]), (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1), s)
    return IDENTITY_FIELDMAP


def _largest(maps: list[Fieldmap | None]) -> Fieldmap | None:
    """Where paths merge (a residual sum), the largest field map, as NetDissect's ``max_fieldmap``."""
    if any(m is None for m in maps):
        return None
    return max(maps, key=lambda m: m[1][0]) if maps else IDENTITY_FIELDMAP  # type: ignore[index]


def _graph_fieldmap(module: nn.Module, leaf: nn.Module | None = None) -> tuple[Fieldmap | None, Fieldmap | None]:
    """(field map of ``module``'s output, of ``leaf``'s output), tracing ``module`` with torch.fx
    (``leaf`` kept whole and mapped by its own trace)."""
    import torch.fx

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return m is leaf or super().is_leaf_module(m, qualname)

    graph = Tracer().trace(module)
    modules = dict(module.named_modules())
    maps: dict[object, Fieldmap | None] = {}
    out, at_leaf = IDENTITY_FIELDMAP, None
    for node in graph.nodes:
        base = _largest([maps[a] for a in node.all_input_nodes if a in maps])
        if node.op == "placeholder":
            maps[node] = IDENTITY_FIELDMAP
        elif node.op == "call_module":
            m = modules[node.target]
            own = _graph_fieldmap(m)[0] if m is leaf else _own_fieldmap(m)
            maps[node] = compose_fieldmap(base, own)
            if m is leaf:
                at_leaf = maps[node]
        elif node.op == "output":
            out = base
        else:
            maps[node] = base
    return out, at_leaf


def fieldmap(model: nn.Module, name: str) -> Fieldmap | None:
    """The receptive-field map of unit layer ``name`` in input pixels (NetDissect's ``fieldmap``):
    unit (y, x) sees input rows ``y * step + offset`` .. ``+ size`` (and columns likewise), so its
    centre is at ``size // 2 + offset + y * step``. Composed over the convolutions and poolings on the
    way from the input (the largest where paths merge, e.g. a residual block); None after a global
    pooling (no spatial map)."""
    layer = unit_layer(model, name)
    if layer is model:
        return _graph_fieldmap(model)[0]
    return _graph_fieldmap(model, layer)[1]
