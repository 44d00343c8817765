"""The embedded "shapes" concept dataset: generated, deterministic, no download.

Every image is a 2-band scene background (sky/wall above a horizon, ground/floor below it) with one
main object on top. The classification label is the main object's shape. Every concept is planted,
so the probe set is exact ground truth for network dissection.

How each label is defined (see also README, section "The shapes dataset"):

* Rendering happens on a 2x super-sampled grid (``ss = 2 * size``) and is box-filtered down to the
  image, so edges are anti-aliased. Segmentations are at half the image resolution (Broden's
  ``sh = ih / 2``): one segmentation pixel covers a 2x2 block of image pixels, i.e. a 4x4 block of
  super-samples.
* ``object``: a segmentation pixel carries the main object's shape label when the object covers at
  least half of the pixel's area (>= 8 of its 16 super-samples); otherwise 0.
* ``color``: every segmentation pixel carries exactly one colour: the object's colour where it
  carries the object label, else the colour of the background band (sky or ground) covering the
  majority of its non-object super-samples (ties go to the lower band). A region's texture shades
  some of its pixels, but does not change its colour label.
* ``texture``: the texture of the same region that gave the colour label; 0 where that region is
  plain (untextured).
* ``scene``: an image-level label, the scene type of the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 220, 40),
    "green": (40, 160, 50),
    "blue": (35, 75, 215),
    "purple": (125, 45, 165),
    "pink": (245, 150, 200),
    "brown": (115, 70, 30),
    "black": (15, 15, 15),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
}

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "diamond", "cross",
    "star", "ring", "crescent", "semicircle", "arrow",
)

TEXTURES: tuple[str, ...] = (
    "banded", "striped", "chequered", "dotted", "grid", "zigzagged", "speckled",
)

# scene -> (sky/wall colours, ground/floor colours, horizon range as a fraction of the height)
SCENES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[float, float]]] = {
    "meadow": (("blue", "white"), ("green",), (0.35, 0.55)),
    "desert": (("blue",), ("yellow", "orange"), (0.3, 0.5)),
    "night": (("black", "purple"), ("grey", "black"), (0.5, 0.7)),
    "snowfield": (("grey", "blue"), ("white",), (0.35, 0.55)),
    "room": (("white", "grey", "pink"), ("brown",), (0.6, 0.8)),
    "forest": (("green",), ("brown",), (0.55, 0.75)),
}

CATEGORIES: tuple[str, ...] = ("color", "object", "texture", "scene")


@dataclass(frozen=True)
class DataConfig:
    """Settings of the generated data set (``pruneinterp make-data``, the workflow's ``data``
    section): images per split and the seed; what the images look like is :class:`ShapesSpec`."""

    n_train: int = 8000
    n_val: int = 1000
    n_probe: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class ShapesSpec:
    """Parameters of the generator; the defaults are the embedded default dataset."""

    size: int = 32
    min_scale: float = 0.28  # object half-size as a fraction of the image side
    max_scale: float = 0.42
    max_rotation: float = 15.0  # degrees; small so that square and diamond stay distinct
    p_object_texture: float = 0.6
    p_background_texture: float = 0.4
    noise: float = 6.0  # std of additive Gaussian pixel noise, in 0..255 units
    shade: float = 70.0  # luminance shift of a texture's pattern pixels

    def __post_init__(self) -> None:
        if self.size < 8 or self.size % 2:
            raise ValueError(f"shapes.size must be an even integer >= 8, got {self.size}")
        if not 0 < self.min_scale <= self.max_scale < 0.5:
            raise ValueError(
                "shapes.min_scale and shapes.max_scale must satisfy 0 < min_scale <= max_scale < 0.5, "
                f"got {self.min_scale}, {self.max_scale}"
            )


def label_names() -> list[tuple[str, str]]:
    """(name, category) for every label in Broden numbering order; label 0 is background."""
    out = [(c, "color") for c in COLORS]
    out += [(s, "object") for s in SHAPES]
    out += [(t, "texture") for t in TEXTURES]
    out += [(s, "scene") for s in SCENES]
    return out


def label_numbers() -> dict[tuple[str, str], int]:
    """(category, name) -> global label number (1-based, as in Broden's label.csv)."""
    return {(cat, name): i + 1 for i, (name, cat) in enumerate(label_names())}


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership of points (u right, v down, both in object units of [-1, 1]) in a shape."""
    r2 = u * u + v * v
    if shape == "circle":
        return r2 <= 0.9**2
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.75
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 0.98
    if shape == "triangle":  # apex up
        return (v <= 0.75) & (np.abs(u) <= (v + 0.9) * (0.9 / 1.65))
    if shape == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.92)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.92))
    if shape == "star":  # five points, radius alternating between 0.98 and 0.42
        phi = np.arctan2(u, -v)
        seg = np.mod(phi, 2 * np.pi / 5) / (2 * np.pi / 5)  # 0 at a point, 0.5 between points
        radius = 0.98 - (0.98 - 0.42) * (1 - np.abs(1 - 2 * seg))
        return np.sqrt(r2) <= radius
    if shape == "ring":
        return (r2 <= 0.92**2) & (r2 >= 0.5**2)
    if shape == "crescent":
        return (r2 <= 0.9**2) & ((u - 0.45) ** 2 + (v + 0.1) ** 2 > 0.72**2)
    if shape == "semicircle":  # flat side down
        vv = v - 0.35
        return (u * u + vv * vv <= 0.95**2) & (vv <= 0.0)
    if shape == "arrow":  # pointing up
        head = (v >= -0.95) & (v <= -0.1) & (np.abs(u) <= (v + 0.95) * (0.8 / 0.85))
        stem = (np.abs(u) <= 0.25) & (v > -0.1) & (v <= 0.95)
        return head | stem
    raise KeyError(shape)


def _pattern(texture: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean pattern of a texture on integer image-pixel coordinates (x, y)."""
    px, py = rng.integers(0, 6, size=2)
    x = x + px
    y = y + py
    if texture == "banded":
        return (y // 2) % 2 == 0
    if texture == "striped":  # diagonal
        return ((x + y) // 2) % 2 == 0
    if texture == "chequered":
        return (x // 3 + y // 3) % 2 == 0
    if texture == "dotted":
        return (x % 4 < 2) & (y % 4 < 2)
    if texture == "grid":
        return (x % 4 == 0) | (y % 4 == 0)
    if texture == "zigzagged":
        return ((y + np.abs(x % 6 - 3)) // 2) % 2 == 0
    if texture == "speckled":
        return rng.random(x.shape) < 0.35
    raise KeyError(texture)


def _shaded(rgb: tuple[int, int, int], shade: float) -> np.ndarray:
    base = np.asarray(rgb, dtype=np.float32)
    lum = 0.299 * base[0] + 0.587 * base[1] + 0.114 * base[2]
    return np.clip(base + (shade if lum < 110 else -shade), 0, 255)


@dataclass
class Sample:
    image: np.ndarray  # (size, size, 3) uint8
    target: int  # class = index of the main object's shape in SHAPES
    seg: dict[str, np.ndarray]  # category -> (size/2, size/2) int32 global label numbers
    scene: int  # global label number of the scene


def render(spec: ShapesSpec, rng: np.random.Generator) -> Sample:
    """Draw one image and its labels from ``rng``."""
    n = spec.size
    ss = 2 * n
    numbers = label_numbers()
    scene = list(SCENES)[rng.integers(len(SCENES))]
    sky_opts, ground_opts, (h_lo, h_hi) = SCENES[scene]
    band_colors = [sky_opts[rng.integers(len(sky_opts))], ground_opts[rng.integers(len(ground_opts))]]
    horizon = rng.uniform(h_lo, h_hi) * n
    band_tex = [
        TEXTURES[rng.integers(len(TEXTURES))] if rng.random() < spec.p_background_texture else None
        for _ in range(2)
    ]
    shape_idx = int(rng.integers(len(SHAPES)))
    shape = SHAPES[shape_idx]
    candidates = [c for c in COLORS if c not in band_colors]
    obj_color = candidates[rng.integers(len(candidates))]
    obj_tex = TEXTURES[rng.integers(len(TEXTURES))] if rng.random() < spec.p_object_texture else None
    half = rng.uniform(spec.min_scale, spec.max_scale) * n
    cx, cy = rng.uniform(half, n - half, size=2)
    theta = np.deg2rad(rng.uniform(-spec.max_rotation, spec.max_rotation))

    # super-sample centres in image-pixel units
    coords = (np.arange(ss, dtype=np.float32) + 0.5) / 2.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    dx, dy = (xx - cx) / half, (yy - cy) / half
    c, s = np.cos(theta), np.sin(theta)
    obj = _inside(shape, c * dx + s * dy, -s * dx + c * dy)
    lower = yy >= horizon  # ground band

    # integer image-pixel coordinates of each super-sample, for textures
    ix, iy = np.floor(xx).astype(np.int64), np.floor(yy).astype(np.int64)
    img = np.empty((ss, ss, 3), dtype=np.float32)
    for band in (0, 1):
        region = (lower == bool(band)) & ~obj
        img[region] = COLORS[band_colors[band]]
        if band_tex[band] is not None:
            pat = _pattern(band_tex[band], ix, iy, rng)
            img[region & pat] = _shaded(COLORS[band_colors[band]], spec.shade)
    img[obj] = COLORS[obj_color]
    if obj_tex is not None:
        pat = _pattern(obj_tex, ix, iy, rng)
        img[obj & pat] = _shaded(COLORS[obj_color], spec.shade)
    img = img.reshape(n, 2, n, 2, 3).mean(axis=(1, 3))
    if spec.noise > 0:
        img = img + rng.normal(0.0, spec.noise, size=img.shape).astype(np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    # segmentation at half resolution: majority over each 4x4 block of super-samples
    h = n // 2
    obj_frac = obj.reshape(h, 4, h, 4).mean(axis=(1, 3))
    obj_seg = obj_frac >= 0.5
    nonobj = ~obj
    low_count = (lower & nonobj).reshape(h, 4, h, 4).sum(axis=(1, 3))
    up_count = (~lower & nonobj).reshape(h, 4, h, 4).sum(axis=(1, 3))
    band_seg = np.where(low_count >= up_count, 1, 0)
    # pixels carried by the object are all-object blocks only when up/low counts are both 0: fine,
    # the object label wins there anyway.
    color_seg = np.where(
        obj_seg,
        numbers[("color", obj_color)],
        np.where(band_seg == 1, numbers[("color", band_colors[1])], numbers[("color", band_colors[0])]),
    ).astype(np.int32)
    object_seg = np.where(obj_seg, numbers[("object", shape)], 0).astype(np.int32)

    def tex_number(t: str | None) -> int:
        return 0 if t is None else numbers[("texture", t)]

    texture_seg = np.where(
        obj_seg,
        tex_number(obj_tex),
        np.where(band_seg == 1, tex_number(band_tex[1]), tex_number(band_tex[0])),
    ).astype(np.int32)
    return Sample(
        image=image,
        target=shape_idx,
        seg={"color": color_seg, "object": object_seg, "texture": texture_seg},
        scene=numbers[("scene", scene)],
    )


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """An independent random stream per (seed, split, image): any image can be regenerated alone."""
    split_code = {"train": 1, "val": 2, "probe": 3}[split]
    return np.random.default_rng(np.random.SeedSequence([seed, split_code, index]))


def generate(spec: ShapesSpec, n: int, seed: int, split: str) -> list[Sample]:
    return [render(spec, image_rng(seed, split, i)) for i in range(n)]


def generate_arrays(spec: ShapesSpec, n: int, seed: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, H, W, 3) uint8 and targets (n,) int64 for a classification split."""
    images = np.empty((n, spec.size, spec.size, 3), dtype=np.uint8)
    targets = np.empty(n, dtype=np.int64)
    for i in range(n):
        sample = render(spec, image_rng(seed, split, i))
        images[i] = sample.image
        targets[i] = sample.target
    return images, targets
