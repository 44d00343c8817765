from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from pruneinterp.data import shapes
from pruneinterp.data.broden import Probe, decode_seg, encode_seg, iou_bound, probe_stats, write_shapes_probe

REPO = Path(__file__).resolve().parents[1]


def test_generator_is_deterministic_per_seed(spec):
    a, ya = shapes.generate_arrays(spec, 20, 7, "train")
    b, yb = shapes.generate_arrays(spec, 20, 7, "train")
    c, _ = shapes.generate_arrays(spec, 20, 8, "train")
    v, _ = shapes.generate_arrays(spec, 20, 7, "val")
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, v)  # splits are independent streams


def test_every_class_and_scene_occurs(spec):
    samples = shapes.generate(spec, 400, 0, "train")
    assert {s.target for s in samples} == set(range(len(shapes.SHAPES)))
    numbers = shapes.label_numbers()
    assert {s.scene for s in samples} == {numbers[("scene", n)] for n in shapes.SCENES}


def test_labels_match_the_planted_concepts():
    # no noise, no textures: pixel colours can be checked exactly against the labels
    spec = shapes.ShapesSpec(noise=0.0, p_object_texture=0.0, p_background_texture=0.0)
    numbers = shapes.label_numbers()
    color_of = {numbers[("color", c)]: np.array(rgb) for c, rgb in shapes.COLORS.items()}
    distractors = {numbers[("object", d)] for d in shapes.DISTRACTORS}
    for i in range(30):
        s = shapes.render(spec, shapes.image_rng(0, "probe", i))
        obj = s.seg["object"]
        main = numbers[("object", shapes.SHAPES[s.target])]
        assert set(np.unique(obj)) <= {0, main} | distractors
        assert (obj == main).any(), "the main object is always visible"
        assert (s.seg["texture"] == 0).all()
        # a segmentation pixel whose 2x2 image block is uniform has exactly its colour label's RGB
        blocks = s.image.reshape(16, 2, 16, 2, 3).transpose(0, 2, 1, 3, 4).reshape(16, 16, 4, 3)
        uniform = (blocks == blocks[:, :, :1]).all(axis=(2, 3))
        assert uniform.mean() > 0.5
        for (y, x) in zip(*np.nonzero(uniform)):
            assert np.array_equal(blocks[y, x, 0], color_of[s.seg["color"][y, x]])
        # the main object has one colour, which no background region and no distractor has
        obj_colors = set(np.unique(s.seg["color"][obj == main]))
        assert len(obj_colors) == 1
        assert not obj_colors & set(np.unique(s.seg["color"][obj != main]))


def test_parts_lie_on_the_main_object_and_belong_to_its_shape():
    spec = shapes.ShapesSpec()
    numbers = shapes.label_numbers()
    name_of = {num: name for (cat, name), num in numbers.items() if cat == "part"}
    seen = set()
    for i in range(200):
        s = shapes.render(spec, shapes.image_rng(0, "train", i))
        shape = shapes.SHAPES[s.target]
        part = s.seg["part"]
        assert (s.seg["object"][part > 0] == numbers[("object", shape)]).all()
        found = {name_of[int(v)] for v in np.unique(part) if v}
        assert found <= set(shapes.SHAPE_PARTS.get(shape, ())), (shape, found)
        seen |= found
    assert seen == set(shapes.PARTS)


def test_scene_palettes_are_valid():
    roles = {"land": {"sky", "hills", "ground", "sky_patch", "ground_patch"},
             "coast": {"sky", "sea", "shore", "sky_patch"},
             "room": {"wall", "floor", "window", "rug"},
             "city": {"sky", "building", "street"}}
    assert set(roles) == set(shapes.LAYOUTS)
    for name, scene in shapes.SCENES.items():
        assert set(scene.palette) == roles[scene.layout], name
        colors = [c for options in scene.palette.values() for c in options]
        assert len(colors) == len(set(colors)), f"{name}: a colour in two roles"
        assert set(colors) <= set(shapes.COLORS), name


def test_textured_regions_carry_texture_labels():
    spec = shapes.ShapesSpec(p_object_texture=1.0, p_background_texture=1.0)
    numbers = shapes.label_numbers()
    texture_numbers = {numbers[("texture", t)] for t in shapes.TEXTURES}
    for i in range(10):
        s = shapes.render(spec, shapes.image_rng(1, "probe", i))
        assert set(np.unique(s.seg["texture"])) <= texture_numbers


def test_seg_png_roundtrip():
    labels = np.array([[0, 1, 255], [256, 1000, 34]], dtype=np.int32)
    assert np.array_equal(decode_seg(encode_seg(labels)), labels)


def test_probe_is_in_broden_format(probe_dir):
    index = pd.read_csv(probe_dir / "index.csv", keep_default_na=False)
    assert list(index.columns) == ["image", "split", "ih", "iw", "sh", "sw", "color", "object", "material",
                                   "part", "scene", "texture"]
    assert (index["sh"] * 2 == index["ih"]).all()
    labels = pd.read_csv(probe_dir / "label.csv")
    assert labels["number"].tolist() == list(range(len(shapes.label_names()) + 1))
    cats = pd.read_csv(probe_dir / "category.csv")
    assert set(cats["name"]) == {"color", "object", "part", "texture", "scene"}
    for row in cats.itertuples():
        c = pd.read_csv(probe_dir / f"c_{row.name}.csv")
        assert c["number"].tolist() == list(range(row.first, row.last + 1))
    seg = decode_seg(np.asarray(Image.open(probe_dir / "images" / index.at[0, "object"])))
    assert seg.shape == (16, 16)
    probe = Probe(probe_dir)
    masks, annotated = probe.label_masks([0, 1])
    assert masks.shape == (2, 256, len(shapes.label_names())) and annotated.all()
    # image-level scene label covers every pixel of its image
    scene_col = probe.column_of[int(index.at[0, "scene"])]
    assert masks[0, :, scene_col].all()
    # every pixel has exactly one colour label
    color_cols = [j for j, lab in enumerate(probe.labels) if lab.category == "color"]
    assert (masks[:, :, color_cols].sum(-1) == 1).all()


def test_bad_spec_names_the_key():
    with pytest.raises(ValueError, match="shapes.size"):
        shapes.ShapesSpec(size=31)


def test_probe_files_are_identical_for_the_same_seed(tmp_path, spec):
    write_shapes_probe(tmp_path / "a", 6, 5, spec)
    write_shapes_probe(tmp_path / "b", 6, 5, spec)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert "probe_stats.csv" in {str(f) for f in files}
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_iou_bound_and_probe_stats_by_hand(tmp_path):
    np.testing.assert_allclose(iou_bound([0.0025, 0.005, 0.02, 0.0]), [0.5, 1.0, 0.25, 0.0])
    assert iou_bound(0.05) == pytest.approx(0.1) and iou_bound(0.0005) == pytest.approx(0.1)
    from broden_fixture import write_broden_fixture

    write_broden_fixture(tmp_path)
    # 41 segmentation pixels (4x4 + 4x4 + 3x3); parts in two PNGs count a pixel once; image-level
    # labels count every pixel of their images
    stats = probe_stats(tmp_path, quantile=2 / 41, min_bound=0.5).set_index("label")
    assert list(stats.columns) == ["category", "coverage", "bound", "feasible"]
    pixels = {"red-c": 13, "wall": 4, "door": 2, "handle": 1, "kitchen-s": 25, "striped": 16, "wood": 1}
    for label, n in pixels.items():
        assert stats.at[label, "coverage"] == pytest.approx(n / 41), label
        assert stats.at[label, "bound"] == pytest.approx(min(2, n) / max(2, n)), label
    assert stats["feasible"].to_dict() == {"red-c": False, "wall": True, "door": True, "handle": True,
                                           "kitchen-s": False, "striped": False, "wood": True}
    assert stats.at["wall", "category"] == "object" and stats.at["kitchen-s", "category"] == "scene"


def test_default_probe_gives_every_category_five_feasible_labels(tmp_path):
    """The acceptance check of the probe design: on the default probe (1000 images, seed 0, default
    spec) every category has at least 5 labels whose best IoU is >= 0.1 (q = 0.005)."""
    from pruneinterp.data.shapes import DataConfig

    write_shapes_probe(tmp_path / "probe", DataConfig.n_probe, DataConfig.seed, shapes.ShapesSpec())
    stats = pd.read_csv(tmp_path / "probe" / "probe_stats.csv")
    assert list(stats.columns) == ["label", "category", "coverage", "bound", "feasible"]
    assert len(stats) == len(shapes.label_names())
    q = 0.005
    np.testing.assert_allclose(stats["bound"], np.minimum(q, stats["coverage"]) / np.maximum(q, stats["coverage"]))
    assert (stats["feasible"] == (stats["bound"] >= 0.1)).all()
    feasible = stats[stats["feasible"]].groupby("category").size()
    for category in shapes.CATEGORIES:
        assert feasible.get(category, 0) >= 5, (category, stats[stats["category"] == category])
    # coverage agrees with the probe's own label.csv (sum over images of the covered fraction)
    labels = pd.read_csv(tmp_path / "probe" / "label.csv").set_index("name")
    for row in stats.itertuples():
        assert row.coverage == pytest.approx(labels.at[row.label, "coverage"] / DataConfig.n_probe, abs=1e-6)


def test_schema_defaults_are_the_generator_defaults():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["data"]["properties"]["shapes"]["properties"]
    spec = shapes.ShapesSpec()
    assert set(props) == {f.name for f in fields(spec)}
    for f in fields(spec):
        assert props[f.name]["default"] == getattr(spec, f.name), f.name
        assert props[f.name].get("description"), f.name
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())["data"]["shapes"]
    assert shapes.ShapesSpec(**config) == spec  # the default workflow uses the default generator


def test_dissection_recovers_planted_units_of_every_category(tmp_path, spec):
    """Dissection reads the part category and the image-level scenes of the generated probe: an
    exact detector of a label of each category is found, with the label's primary category."""
    from pruneinterp.dissection import GroundTruthConfig, ground_truth

    write_shapes_probe(tmp_path / "probe", 300, 0, spec)
    labels = ("green", "heart", "corner", "crosshatched", "meadow")
    df = ground_truth(str(tmp_path / "probe"), str(tmp_path / "gt.csv"),
                      GroundTruthConfig(labels=labels, noise_units=1), quantile=0.005, iou_threshold=0.05)
    assert df["recovered"].all(), df
    category = {lab.name: lab.category for lab in Probe(tmp_path / "probe").labels}
    assert [category[name] for name in labels] == ["color", "object", "part", "texture", "scene"]


def test_context_ties_scene_texture_and_colour_to_the_class():
    """With probability ``context`` an image is in its class's context (scene among the class's 3,
    the object's texture and colour the class's where possible); otherwise uniform. Measured: the
    share of images whose scene is one of their class's, which is context + (1 - context) * 3/30."""
    from pruneinterp.data.shapes import SCENES, context_of, generate

    names = {num: name for (cat, name), num in shapes.label_numbers().items() if cat == "scene"}
    for context, expected in ((1.0, 1.0), (0.4, 0.4 + 0.6 * 3 / len(SCENES)), (0.0, 3 / len(SCENES))):
        samples = generate(shapes.ShapesSpec(context=context), 400, 0, "val")
        share = np.mean([names[s.scene] in context_of(s.target)[0] for s in samples])
        assert abs(share - expected) <= 3 * np.sqrt(expected * (1 - expected) / 400) + 1e-9, (context, share)
    samples = generate(shapes.ShapesSpec(context=1.0), 200, 0, "val")
    classes = {s.target for s in samples}
    assert len(classes) == len(shapes.SHAPES)  # the class stays uniform: context follows it, not the reverse
    with pytest.raises(ValueError, match="context must be in"):
        shapes.ShapesSpec(context=1.5)
