import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pruneinterp.data.broden import Probe, encode_seg
from pruneinterp.dissection import dissect_layer, unit_thresholds


def _write_fixture(root):
    """4 images 4x4 (seg 2x2): categories color (pixel), object (pixel), scene (image-level).
    Image 3 has no object annotation (empty cell)."""
    (root / "images").mkdir(parents=True)
    labels = pd.DataFrame([
        (0, "-", "", 0, 0, ""), (1, "red", "color(4)", 4, 1, ""), (2, "dog", "object(2)", 2, 1, ""),
        (3, "cat", "object(1)", 1, 1, ""), (4, "park", "scene(2)", 2, 2, ""),
    ], columns=["number", "name", "category", "frequency", "coverage", "syns"])
    labels.to_csv(root / "label.csv", index=False)
    pd.DataFrame([("color", 1, 1, 1, 4), ("object", 2, 3, 2, 3), ("scene", 4, 4, 1, 2)],
                 columns=["name", "first", "last", "count", "frequency"]).to_csv(root / "category.csv", index=False)
    segs = {
        0: {"color": [[1, 0], [0, 0]], "object": [[2, 2], [0, 0]], "scene": "4"},
        1: {"color": [[0, 0], [0, 1]], "object": [[0, 0], [0, 3]], "scene": ""},
        2: {"color": [[1, 1], [1, 1]], "object": [[0, 0], [0, 0]], "scene": "4"},
        3: {"color": [[0, 0], [0, 0]], "object": None, "scene": ""},
    }
    rows = []
    for i, s in segs.items():
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "images" / f"{i}.png")
        row = {"image": f"{i}.png", "split": "train", "ih": 4, "iw": 4, "sh": 2, "sw": 2,
               "material": "", "part": "", "texture": "", "scene": s["scene"]}
        for cat in ("color", "object"):
            if s[cat] is None:
                row[cat] = ""
                continue
            Image.fromarray(encode_seg(np.array(s[cat], np.int32))).save(root / "images" / f"{i}_{cat}.png")
            row[cat] = f"{i}_{cat}.png"
        rows.append(row)
    pd.DataFrame(rows)[["image", "split", "ih", "iw", "sh", "sw", "color", "object", "material", "part", "scene",
                        "texture"]].to_csv(root / "index.csv", index=False)
    return Probe(root)


def test_iou_hand_computed_with_category_gated_union(tmp_path):
    probe = _write_fixture(tmp_path)
    # one unit whose 2x2 map (already at seg resolution: no interpolation effect) is 1 on:
    # image0 top row, image1 bottom-right, image3 everywhere; 0 elsewhere
    acts = np.zeros((4, 1, 2, 2), np.float32)
    acts[0, 0, 0, :] = 1
    acts[1, 0, 1, 1] = 1
    acts[3, 0] = 1
    d = dissect_layer(acts, probe, np.arange(4), quantile=0.45)  # 7 of 16 values are 1: 0 < T < 1
    assert 0.0 < d.thresholds[0] < 1.0
    iou = dict(zip(d.labels, d.iou[0]))
    # active pixels: img0 {(0,0),(0,1)}, img1 {(1,1)}, img3 all 4  -> 7 in total
    # red: pixels img0 (0,0), img1 (1,1), img2 all 4 = 6; inter = 2; color annotated in all images
    assert iou["red"] == pytest.approx(2 / (7 + 6 - 2))
    # dog: img0 top row (2 px); inter 2; object annotated in images 0-2 only -> active there: 3
    assert iou["dog"] == pytest.approx(2 / (3 + 2 - 2))
    # cat: img1 (1,1); inter 1 -> 1 / (3 + 1 - 1)
    assert iou["cat"] == pytest.approx(1 / 3)
    # park: image-level on images 0 and 2 -> 8 pixels; inter = 2 (img0); scene annotated in 0 and 2
    # -> active pixels there: 2
    assert iou["park"] == pytest.approx(2 / (2 + 8 - 2))
    table = d.table("conv", 0.5)
    assert table.loc[0, "label"] == "dog" and bool(table.loc[0, "interpretable"])


def test_unit_equal_to_a_concept_mask_gets_iou_one(probe_dir):
    probe = Probe(probe_dir)
    n = len(probe)
    masks, _ = probe.label_masks(np.arange(n))
    names = [lab.name for lab in probe.labels]
    # units: exact "red" detector, exact "circle" detector, noise; at segmentation resolution
    chosen = ["red", "circle"]
    rng = np.random.default_rng(0)
    acts = 0.01 * rng.random((n, 3, 16, 16)).astype(np.float32)  # small noise breaks ties
    for u, name in enumerate(chosen):
        acts[:, u] += masks[:, :, names.index(name)].reshape(n, 16, 16)
    acts[:, 2] = rng.random((n, 16, 16))
    # quantile = exact coverage of each concept, so the top pixels are exactly the concept's pixels
    for u, name in enumerate(chosen):
        frac = masks[:, :, names.index(name)].mean()
        assert frac > 0, f"fixture has no {name}"
        d = dissect_layer(acts[:, u:u + 1], probe, np.arange(n), quantile=frac * 0.999)
        best = int(d.iou[0].argmax())
        assert names[best] == name
        assert d.iou[0, best] > 0.99
    d = dissect_layer(acts[:, 2:3], probe, np.arange(n), quantile=0.005)
    assert d.iou[0].max() < 0.2


def test_thresholds_are_exact_quantiles():
    rng = np.random.default_rng(0)
    acts = rng.random((10, 3, 4, 4)).astype(np.float32)
    t = unit_thresholds(acts, 0.005)
    for u in range(3):
        assert t[u] == pytest.approx(np.quantile(acts[:, u].ravel(), 0.995))
