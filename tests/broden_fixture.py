"""A tiny probe written in the exact Broden layout (broden1_224/227): JPEG images under dataset
folders, ``index.csv`` with pixel-level PNG cells (several ``;``-separated part layers) and
image-level number cells (scene, texture), ``label.csv`` with multi-category labels, ``category.csv``
and ``c_<category>.csv``; images of two sizes. The real dataset cannot be downloaded here.

Global label numbers: 1 red-c (color), 2 wall (object; also a part: primary category object),
3 door (part), 4 handle (part), 5 kitchen-s (scene), 6 striped (texture), 7 wood (material).

One unit with activation 1 on (threshold 0.5):
* img 0 (seg 4x4): row 1 (4 pixels); categories annotated: color, object, part, scene;
* img 1 (seg 4x4): pixel (0, 0); annotated: object (an all-zero PNG), texture;
* img 2 (seg 3x3; activations all 1, upsampled from 4x4): all 9; annotated: color, material, scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pruneinterp.data.broden import encode_seg

LABELS = ["red-c", "wall", "door", "handle", "kitchen-s", "striped", "wood"]

# IoU = inter / (active pixels on images where the label's category is annotated + label pixels - inter)
EXPECTED_IOU = {
    "red-c": 9 / (13 + 13 - 9),      # img0 row 0 (no overlap) + img2 all 9; active where color: 4 + 9
    "wall": 1 / (5 + 4 - 1),         # img0 column 0, overlap (1, 0); active where object: 4 + 1
    "door": 2 / (4 + 2 - 2),         # part layers 1 and 2 both mark (1, 1): counted once
    "handle": 0.0,
    "kitchen-s": 13 / (13 + 25 - 13),  # image-level on img0 (16 px) and img2 (9 px)
    "striped": 1 / (1 + 16 - 1),       # image-level on img1
    "wood": 1 / (9 + 1 - 1),           # img2 centre; material annotated on img2 only
}


def _png(root: Path, rel: str, labels: np.ndarray) -> str:
    Image.fromarray(encode_seg(labels.astype(np.int32))).save(root / "images" / rel)
    return rel


def write_broden_fixture(root: Path) -> np.ndarray:
    """Write the probe under ``root``; returns the unit's activations (3, 1, 4, 4) float32."""
    (root / "images" / "ade20k").mkdir(parents=True)
    (root / "images" / "dtd").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []

    # image 0: 8x8, seg 4x4
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / "images/ade20k/img0.jpg")
    color = np.zeros((4, 4)); color[0, :] = 1
    obj = np.zeros((4, 4)); obj[:, 0] = 2
    part1 = np.zeros((4, 4)); part1[1, 1] = 3; part1[1, 2] = 3
    part2 = np.zeros((4, 4)); part2[1, 1] = 3; part2[2, 2] = 4
    rows.append({"image": "ade20k/img0.jpg", "split": "train", "ih": 8, "iw": 8, "sh": 4, "sw": 4,
                 "color": _png(root, "ade20k/img0_color.png", color),
                 "object": _png(root, "ade20k/img0_object.png", obj), "material": "",
                 "part": ";".join([_png(root, "ade20k/img0_part_1.png", part1),
                                   _png(root, "ade20k/img0_part_2.png", part2)]),
                 "scene": "5", "texture": ""})
    # image 1: 8x8, seg 4x4; an object PNG with no labelled pixel; image-level texture
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / "images/dtd/img1.jpg")
    rows.append({"image": "dtd/img1.jpg", "split": "train", "ih": 8, "iw": 8, "sh": 4, "sw": 4, "color": "",
                 "object": _png(root, "dtd/img1_object.png", np.zeros((4, 4))), "material": "", "part": "",
                 "scene": "", "texture": "6"})
    # image 2: 6x6, seg 3x3
    Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)).save(root / "images/ade20k/img2.jpg")
    wood = np.zeros((3, 3)); wood[1, 1] = 7
    rows.append({"image": "ade20k/img2.jpg", "split": "val", "ih": 6, "iw": 6, "sh": 3, "sw": 3,
                 "color": _png(root, "ade20k/img2_color.png", np.ones((3, 3))), "object": "",
                 "material": _png(root, "ade20k/img2_material.png", wood), "part": "", "scene": "5", "texture": ""})
    pd.DataFrame(rows)[["image", "split", "ih", "iw", "sh", "sw", "color", "object", "material", "part", "scene",
                        "texture"]].to_csv(root / "index.csv", index=False)

    labels = pd.DataFrame([
        (0, "-", "", 0, 0.0, ""),
        (1, "red-c", "color(2)", 2, 0.6, ""),
        (2, "wall", "object(1);part(0)", 1, 0.25, "wall;walls"),
        (3, "door", "part(1)", 1, 0.1, ""),
        (4, "handle", "part(1)", 1, 0.06, ""),
        (5, "kitchen-s", "scene(2)", 2, 2.0, ""),
        (6, "striped", "texture(1)", 1, 1.0, ""),
        (7, "wood", "material(1)", 1, 0.1, ""),
    ], columns=["number", "name", "category", "frequency", "coverage", "syns"])
    labels.to_csv(root / "label.csv", index=False)
    cats = [("color", 1, 1), ("object", 2, 2), ("part", 3, 4), ("material", 7, 7), ("scene", 5, 5),
            ("texture", 6, 6)]
    pd.DataFrame([(n, f, last, last - f + 1, 3) for n, f, last in cats],
                 columns=["name", "first", "last", "count", "frequency"]).to_csv(root / "category.csv", index=False)
    for name, first, last in cats:
        sub = labels[(labels["number"] >= first) & (labels["number"] <= last)]
        pd.DataFrame({"code": range(1, len(sub) + 1), "number": sub["number"], "name": sub["name"],
                      "frequency": sub["frequency"], "coverage": sub["coverage"]}).to_csv(
            root / f"c_{name}.csv", index=False)

    acts = np.zeros((3, 1, 4, 4), np.float32)
    acts[0, 0, 1, :] = 1
    acts[1, 0, 0, 0] = 1
    acts[2] = 1
    return acts
