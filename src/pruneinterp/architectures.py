"""What the config may say about each model architecture, without importing torch: its unit layers
(what extract/dissect/mis/similarity may name) and its constructor's keyword arguments. The config
is checked against these in the dry run, before any job; ``tests/test_models.py`` checks that they
match the classes in :mod:`pruneinterp.models`."""

from __future__ import annotations

_RESNET_UNITS = ("layer1", "layer2", "layer3", "layer4", "fc")

UNIT_LAYERS: dict[str, tuple[str, ...]] = {
    "convnet": ("conv1", "conv2", "conv3", "conv4", "fc"),
    "resnet": _RESNET_UNITS,
    "resnet18": _RESNET_UNITS,
    "resnet50": _RESNET_UNITS,
}

KWARGS: dict[str, tuple[str, ...]] = {  # besides num_classes, which the workflow sets from the data
    "convnet": ("width", "in_channels", "widths"),
    "resnet": ("widths", "strides", "blocks", "in_channels"),
    "resnet18": ("small_input",),
    "resnet50": ("small_input",),
}
