import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pruneinterp.data import shapes
from pruneinterp.data.broden import Probe, decode_seg, encode_seg


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
    for i in range(30):
        s = shapes.render(spec, shapes.image_rng(0, "probe", i))
        obj = s.seg["object"]
        assert set(np.unique(obj)) <= {0, numbers[("object", shapes.SHAPES[s.target])]}
        assert obj.any(), "the main object is always visible"
        assert (s.seg["texture"] == 0).all()
        # a segmentation pixel whose 2x2 image block is uniform has exactly its colour label's RGB
        blocks = s.image.reshape(16, 2, 16, 2, 3).transpose(0, 2, 1, 3, 4).reshape(16, 16, 4, 3)
        uniform = (blocks == blocks[:, :, :1]).all(axis=(2, 3))
        assert uniform.mean() > 0.5
        for (y, x) in zip(*np.nonzero(uniform)):
            assert np.array_equal(blocks[y, x, 0], color_of[s.seg["color"][y, x]])
        # the object's colour differs from both background bands
        obj_colors = set(np.unique(s.seg["color"][obj > 0]))
        assert len(obj_colors) == 1
        assert not obj_colors & set(np.unique(s.seg["color"][obj == 0]))


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
    assert set(cats["name"]) == {"color", "object", "texture", "scene"}
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
