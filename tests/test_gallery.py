"""Unit galleries: which levels are drawn, which images a unit shows, and where its mask is."""

import numpy as np
import pandas as pd

from pruneinterp.gallery import choose_levels, overlay, strip, top_images, unit_masks


def test_levels_are_dense_middle_and_last_accurate_level():
    acc = pd.DataFrame({"level": range(7), "top1": [0.90, 0.91, 0.90, 0.89, 0.885, 0.87, 0.60]})
    assert choose_levels(acc, within=2.0) == [0, 3, 4]  # 88.5% is the last within 2 points of 90%
    assert choose_levels(acc, within=0.5) == [0, 2, 3]  # 90% (level 2) is the last within 0.5
    assert choose_levels(acc.iloc[:1]) == [0]


def test_top_images_rank_by_the_units_maximum_over_positions():
    acts = np.zeros((4, 2, 2, 2), np.float32)
    acts[2, 0, 1, 1] = 5.0  # unit 0: image 2 peaks highest, then image 0
    acts[0, 0, 0, 0] = 3.0
    acts[0, 0, 1, 0] = -9.0
    acts[3, 1] = 1.0  # unit 1: image 3 everywhere 1; image 1 has one position at 2
    acts[1, 1, 0, 1] = 2.0
    assert top_images(acts, 2).tolist() == [[2, 0], [1, 3]]


def test_the_mask_is_where_the_upsampled_map_exceeds_the_threshold():
    amap = np.zeros((1, 2, 2), np.float32)
    amap[0, 0, 0] = 1.0  # top-left cell active: bilinear upsampling puts the mask in the top-left corner
    mask = unit_masks(amap, np.array([0.5]), (8, 8))[0]
    assert mask[:3, :3].all() and not mask[4:, :].any() and not mask[:, 4:].any()
    assert not unit_masks(amap, np.array([2.0]), (8, 8)).any()  # nothing above T
    image = np.full((8, 8, 3), 200, np.uint8)
    out = overlay(image, mask, scale=1)
    inside, dimmed, edge = ((out == v).all(-1) for v in (200, 60, (255, 220, 0)))  # 60 = 30% of 200
    assert (inside | dimmed | edge).all() and ((inside | edge) == mask).all()
    assert edge.any() and inside.any() and not (edge & ~mask).any()
    assert overlay(image, mask, scale=3).shape == (24, 24, 3)


def test_receptive_field_masks_are_the_ones_dissection_counts():
    """With dissect.upsample fieldmap the gallery draws the mask NetDissect's upsampleL gives (the
    dissection's own upsampler), which differs from the bilinear one."""
    import torch

    from pruneinterp.dissection import upsampler

    rng = np.random.default_rng(0)
    maps, t = rng.standard_normal((3, 4, 4)).astype(np.float32), np.array([0.3, 0.0, -0.2])
    fieldmap, input_size = np.array([[-3, -3], [11, 11], [8, 8]]), (32, 32)
    masks = unit_masks(maps, t, (32, 32), fieldmap, input_size)
    ref = upsampler(4, 4, (32, 32), fieldmap, input_size)(torch.from_numpy(maps - t[:, None, None].astype(np.float32))[:, None])
    assert np.array_equal(masks, (ref[:, 0] > 0).numpy())
    assert not np.array_equal(masks, unit_masks(maps, t, (32, 32)))


def test_strips_put_tiles_side_by_side_with_gaps():
    tiles = [np.full((4, 4, 3), v, np.uint8) for v in (10, 20, 30)]
    s = strip(tiles, gap=2)
    assert s.shape == (4, 16, 3) and (s[:, 4:6] == 255).all() and (s[:, 12:] == 30).all()
