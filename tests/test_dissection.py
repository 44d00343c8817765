import numpy as np
import torch
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


# ---- exact Broden layout, reference agreement, memory budget, bootstrap, outputs -----------------

from broden_fixture import EXPECTED_IOU, LABELS, write_broden_fixture  # noqa: E402

from pruneinterp.dissection import (Bootstrap, read_iou_file, reference_dissect_layer,  # noqa: E402
                                    write_iou_file)


def test_broden_layout_hand_computed_iou_multi_part_and_image_level(tmp_path):
    acts = write_broden_fixture(tmp_path)
    probe = Probe(tmp_path)
    assert probe.categories == ["color", "object", "part", "material", "scene", "texture"]
    cat_of = {lab.name: lab.category for lab in probe.labels}
    assert cat_of["wall"] == "object"  # "object(1);part(0)": listed in c_object only
    assert [lab.name for lab in probe.labels] == LABELS
    d = dissect_layer(acts, probe, np.arange(3), thresholds=np.array([0.5]))
    ref = reference_dissect_layer(acts, probe, np.arange(3), thresholds=np.array([0.5]))
    for j, name in enumerate(d.labels):
        assert d.iou[0, j] == pytest.approx(EXPECTED_IOU[name], abs=1e-12), name
        assert ref[0, j] == pytest.approx(EXPECTED_IOU[name], abs=1e-12), name
    table = d.table("layer4", 0.04)
    assert table.loc[0, "label"] == "red-c" and table.loc[0, "category"] == "color"


def test_primary_category_is_where_the_label_has_the_largest_coverage(tmp_path, probe_dir):
    """NetDissect (primary_categories_per_index): the category with the largest coverage in
    c_<category>.csv, not the first one listed in label.csv; the IoU's union is gated by it."""
    acts = write_broden_fixture(tmp_path)
    labels = pd.read_csv(tmp_path / "label.csv", keep_default_na=False)
    labels.loc[labels["name"] == "door", "category"] = "part(1);object(1)"
    labels.to_csv(tmp_path / "label.csv", index=False)
    obj = pd.read_csv(tmp_path / "c_object.csv")
    door = labels[labels["name"] == "door"].iloc[0]
    pd.concat([obj, pd.DataFrame([{"code": len(obj) + 1, "number": door["number"], "name": "door",
                                   "frequency": 1, "coverage": 0.5}])]).to_csv(tmp_path / "c_object.csv", index=False)
    cat_of = {lab.name: lab.category for lab in Probe(tmp_path).labels}
    assert cat_of["door"] == "object"  # 0.5 in c_object > 0.1 in c_part, although part is listed first
    assert cat_of["wall"] == "object" and cat_of["handle"] == "part"
    d = dissect_layer(acts, Probe(tmp_path), np.arange(3), thresholds=np.array([0.5]))
    # door's union now counts active pixels where *object* is annotated (img0: 4, img1: 1), not part (4)
    assert d.iou[0, d.labels.index("door")] == pytest.approx(2 / (5 + 2 - 2), abs=1e-12)
    # the generated probe lists every label in one category: the rule changes nothing there
    generated = pd.read_csv(probe_dir / "label.csv", keep_default_na=False)
    assert (generated["category"].str.count(r"\(") == (generated["number"] > 0)).all()


def test_broden_images_and_label_masks(tmp_path):
    write_broden_fixture(tmp_path)
    probe = Probe(tmp_path)
    assert probe.image(2).shape == (6, 6, 3)
    masks, annotated = probe.label_masks([0, 1])
    door, handle = LABELS.index("door"), LABELS.index("handle")
    assert masks[0, :, door].sum() == 2 and masks[0, :, handle].sum() == 1  # two part layers merged
    assert masks[1, :, LABELS.index("striped")].all()  # image-level texture covers the image
    assert annotated[1].tolist() == [False, True, False, False, False, True]
    with pytest.raises(ValueError, match="one segmentation size"):
        probe.label_masks([0, 2])


def _random_layer(n, units, hw, seed=0):
    return np.maximum(np.random.default_rng(seed).standard_normal((n, units, hw, hw), dtype=np.float32), 0)


def test_fast_dissection_equals_the_per_image_per_unit_reference(probe_dir):
    probe = Probe(probe_dir)
    n = len(probe)
    acts = _random_layer(n, 6, 8)  # 8x8 maps upsampled to the 16x16 segmentations
    d = dissect_layer(acts, probe, np.arange(n))
    ref = reference_dissect_layer(acts, probe, np.arange(n))
    assert np.abs(d.iou - ref).max() <= 1e-6
    assert d.iou.max() > 0


def test_memory_budget_changes_chunking_not_results(probe_dir, tmp_path):
    import h5py

    probe = Probe(probe_dir)
    n = len(probe)
    acts = _random_layer(n, 5, 8, seed=1)
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=acts, chunks=(7, 5, 8, 8))
    full = dissect_layer(acts, probe, np.arange(n))
    with h5py.File(path, "r") as f:  # 1 unit per quantile group, 1 image per IoU chunk, read from HDF5
        small = dissect_layer(f["x"], probe, np.arange(n), budget=1024)
    np.testing.assert_array_equal(full.thresholds, small.thresholds)
    np.testing.assert_allclose(full.iou, small.iou, atol=1e-12)
    expected = np.quantile(acts.transpose(1, 0, 2, 3).reshape(5, -1).astype(np.float64), 0.995, axis=1)
    np.testing.assert_allclose(small.thresholds, expected, rtol=1e-6)


def test_bootstrap_is_seeded_and_brackets_the_estimate(probe_dir):
    probe = Probe(probe_dir)
    n = len(probe)
    masks, _ = probe.label_masks(np.arange(n))
    names = [lab.name for lab in probe.labels]
    common = int(masks.any(1).sum(0).argmax())  # the label present in most images
    rng = np.random.default_rng(0)
    acts = 0.01 * rng.random((n, 4, 16, 16)).astype(np.float32)
    acts[:, 0] += masks[:, :, common].reshape(n, 16, 16)
    acts[:, 1] += masks[:, :, names.index("circle")].reshape(n, 16, 16)
    boot = Bootstrap(replicates=50, blocks=n, seed=3)
    q = masks[:, :, common].mean() * 0.999  # the top pixels of unit 0 are exactly the label's pixels
    a = dissect_layer(acts, probe, np.arange(n), quantile=q, bootstrap=boot)
    b = dissect_layer(acts, probe, np.arange(n), quantile=q, bootstrap=boot)
    c = dissect_layer(acts, probe, np.arange(n), quantile=q, bootstrap=Bootstrap(50, n, 4))
    np.testing.assert_array_equal(a.boot_iou, b.boot_iou)
    assert not np.array_equal(a.boot_iou, c.boot_iou)
    assert a.boot_iou.shape == (50, 4)
    # the exact detector keeps its label and IoU ~1 in every replicate; a partial one scatters
    # around its full-probe IoU
    assert (a.boot_label[:, 0] == common).all() and a.boot_iou[:, 0].min() > 0.95
    lo, hi = np.quantile(a.boot_iou[:, 1], [0.025, 0.975])
    assert lo < a.iou[1].max() < hi
    t = a.bootstrap_table("x", 0.04)
    assert list(t.columns) == ["layer", "replicate", "interpretable_units", "unique_concepts"] and len(t) == 50


def test_iou_file_roundtrip(tmp_path, probe_dir):
    probe = Probe(probe_dir)
    acts = _random_layer(len(probe), 3, 8)
    d = dissect_layer(acts, probe, np.arange(len(probe)))
    write_iou_file(tmp_path / "iou.h5", {"conv4": d}, {"quantile": 0.005})
    back = read_iou_file(tmp_path / "iou.h5")
    np.testing.assert_allclose(back["conv4"], d.iou, atol=1e-7)
    assert list(back["labels"]) == d.labels


def test_planted_units_are_recovered_and_noise_is_not(tmp_path, spec):
    from pruneinterp.data.broden import write_shapes_probe
    from pruneinterp.dissection import GroundTruthConfig, ground_truth

    probe_dir = tmp_path / "probe"  # enough images that every planted label occurs on several objects
    write_shapes_probe(probe_dir, 300, 1, spec)

    df = ground_truth(str(probe_dir), str(tmp_path / "gt.csv"),
                      GroundTruthConfig(labels=("gold", "circle", "striped"), noise_units=2),
                      quantile=0.005, iou_threshold=0.04, activations_out=str(tmp_path / "gt.h5"))
    assert df["recovered"].all(), df
    assert list(df["label"][:3]) == ["gold", "circle", "striped"]
    assert (df["iou"][:3] > 0.04).all() and not df["interpretable"][3:].any()
    assert (df["iou"][3:] < 0.01).all()
    assert pd.read_csv(tmp_path / "gt.csv")["recovered"].all()
    with pytest.raises(ValueError, match="allowed"):
        ground_truth(str(probe_dir), str(tmp_path / "x.csv"), {"labels": ["no-such-label"]})


def test_dead_unit_is_never_interpretable_despite_interpolation_round_off(probe_dir):
    """A constant unit (every activation = T) must have an empty mask. Plain bilinear upsampling of a
    constant in float32 is not always that constant (0.75 c + 0.25 c != c), which made dead units of
    heavily pruned networks "detect" image-level scenes."""
    probe = Probe(probe_dir)
    n = len(probe)
    acts = np.full((n, 2, 8, 8), 0.0037389605, np.float32)  # a dead conv4 unit of a pruned net
    up = torch.nn.functional.interpolate(torch.from_numpy(acts[:, :1]), size=(16, 16), mode="bilinear")
    assert (up > torch.tensor(acts[0, 0, 0, 0])).any()  # the round-off the implementation must ignore
    d = dissect_layer(acts, probe, np.arange(n))
    ref = reference_dissect_layer(acts, probe, np.arange(n))
    assert d.iou.max() == 0 and ref.max() == 0
    table = d.table("conv4", 0.04)
    assert (table["label"] == "-").all() and not table["interpretable"].any()


def test_fieldmap_upsampling_weights_by_hand():
    """NetDissect's upsampleL on one axis: a 2-unit map with receptive fields of size 4, offset -1,
    step 2 has centres at 1 and 3; an 8-pixel input seen by a 4-pixel segmentation samples input
    coordinates 0, 2, 4, 6: clamped, halfway, clamped, clamped."""
    from pruneinterp.dissection import fieldmap_weights

    w = fieldmap_weights(offset=-1, size=4, step=2, n_act=2, n_out=4, input_len=8)
    assert w.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]]
    assert fieldmap_weights(0, 1, 1, 1, 3, 3).tolist() == [[1.0], [1.0], [1.0]]  # one unit: constant


def test_fieldmap_dissection_equals_netdissect_spline_reference(probe_dir):
    probe = Probe(probe_dir)
    n = len(probe)
    acts = _random_layer(n, 5, 8, seed=3)
    fm = np.array([[-11, -11], [26, 26], [4, 4]])  # convnet conv4 at 32 px (test_models)
    size = (32, 32)
    d = dissect_layer(acts, probe, np.arange(n), fieldmap=fm, input_size=size)
    ref = reference_dissect_layer(acts, probe, np.arange(n), fieldmap=fm, input_size=size)
    assert np.abs(d.iou - ref).max() < 1e-6
    plain = dissect_layer(acts, probe, np.arange(n))
    assert np.abs(d.iou - plain.iou).max() > 1e-3  # the anchoring changes the masks
    dead = np.zeros_like(acts[:, :1])  # sign-exact: a constant unit has an empty mask either way
    assert dissect_layer(dead, probe, np.arange(n), fieldmap=fm, input_size=size).iou.max() == 0.0
