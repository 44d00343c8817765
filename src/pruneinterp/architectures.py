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
    "resnet34": _RESNET_UNITS,
    "resnet50": _RESNET_UNITS,
    "vgg16_bn": ("block1", "block2", "block3", "block4", "block5", "fc"),
    "googlenet": ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
                  "inception4e", "inception5a", "inception5b", "fc"),
}

KWARGS: dict[str, tuple[str, ...]] = {  # besides num_classes, which the workflow sets from the data
    "convnet": ("width", "in_channels", "widths"),
    "resnet": ("widths", "strides", "blocks", "in_channels"),
    "resnet18": ("small_input",),
    "resnet34": ("small_input",),
    "resnet50": ("small_input",),
    "vgg16_bn": ("small_input",),
    "googlenet": (),
}
