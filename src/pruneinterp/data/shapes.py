"""The embedded "shapes" concept dataset: generated, deterministic, no download.

Every image is a scene background made of several regions (bands, patches, buildings, a window, a
rug ...), one main object, and a few smaller distractor objects on top. The classification label is
the main object's shape (one of :data:`SHAPES`); the distractors are other shapes
(:data:`DISTRACTORS`), never a class. Every concept is planted, so the probe set is exact ground
truth for network dissection; the training and validation images come from the same generator, so
a network sees everything the probe labels.

The label sets are sized for network dissection's bound: a unit's mask covers ``q = 0.005`` of all
probe pixels, so a label covering a share ``c`` of them can reach at most
``IoU = min(q, c) / max(q, c)`` (:func:`pruneinterp.data.broden.probe_stats`). Every category has
labels well inside ``0.0005 <= c <= 0.05`` (bound >= 0.1, twice the usual threshold 0.05): 30
equiprobable scenes (~3.3% of the images each), 24 colours spread over small background regions,
8 textures on about a quarter of the pixels, 16 objects (10 classes, 6 distractors) and 6 parts.

How each label is defined (see also README, section "The shapes dataset"):

* Rendering happens on a 2x super-sampled grid (``ss = 2 * size``) and is box-filtered down to the
  image, so edges are anti-aliased. Segmentations are at half the image resolution (Broden's
  ``sh = ih / 2``): one segmentation pixel covers a 2x2 block of image pixels, i.e. a 4x4 block of
  super-samples.
* Regions are painted in order (background regions, then the main object, then the distractors);
  each super-sample shows the last region painted over it. A segmentation pixel belongs to the
  region that shows in most of its 16 super-samples (ties: the region painted last). Every label of
  the pixel except ``scene`` is a property of that region:
* ``color``: the region's colour (exactly one per pixel). A texture shades some of the region's
  image pixels, but does not change its colour label.
* ``texture``: the region's texture; 0 where the region is plain.
* ``object``: the object's shape (a class of :data:`SHAPES` for the main object, a
  :data:`DISTRACTORS` shape for a distractor); 0 where the region is background.
* ``part``: only on pixels of the main object: the named part of the shape (:data:`PARTS`, defined
  in the object's own rotated frame by :func:`_part`) that shows in most of the object's visible
  super-samples of the pixel, against the rest of the object's body (ties go to the part); 0
  elsewhere. Parts: ``corner`` (square, triangle, diamond: within 0.45 object units of a vertex),
  ``point`` (star: the five points, radius > 0.6), ``arm`` (cross: the outer halves of the four
  arms), ``horn`` (crescent: the two tips), ``arrowhead`` and ``shaft`` (arrow).
* ``scene``: an image-level label, the scene type that chose the background's layout and palette.

Colours of the objects: the main object's colour is one no background region of the image uses and
at least ``min_contrast`` (RGB distance) away from each of them; a distractor's colour is any other
colour the background does not use. Distractors are painted over the main object but may hide at
most ``max_occlusion`` of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    # the 11 Broden colour names
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
    # more colour names, so that no colour has to cover a large share of all pixels
    "cyan": (60, 215, 235),
    "navy": (20, 25, 105),
    "olive": (125, 125, 25),
    "maroon": (125, 15, 45),
    "teal": (0, 125, 125),
    "lime": (165, 235, 60),
    "magenta": (225, 35, 200),
    "beige": (225, 205, 165),
    "lavender": (185, 165, 240),
    "silver": (190, 190, 190),
    "gold": (205, 160, 0),
    "salmon": (250, 125, 110),
    "indigo": (75, 20, 140),
}

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "diamond", "cross",
    "star", "ring", "crescent", "semicircle", "arrow",
)

DISTRACTORS: tuple[str, ...] = ("heart", "hexagon", "bar", "chevron", "bowtie", "trapezoid")

PARTS: tuple[str, ...] = ("corner", "point", "arm", "horn", "arrowhead", "shaft")

# the parts each class shape has (defined by _part); circle, ring and semicircle have none
SHAPE_PARTS: dict[str, tuple[str, ...]] = {
    "square": ("corner",), "triangle": ("corner",), "diamond": ("corner",), "star": ("point",),
    "cross": ("arm",), "crescent": ("horn",), "arrow": ("arrowhead", "shaft"),
}

TEXTURES: tuple[str, ...] = (
    "banded", "striped", "chequered", "dotted", "grid", "zigzagged", "speckled", "crosshatched",
)


@dataclass(frozen=True)
class Scene:
    """A scene type: a background layout and, per region role of that layout, the colours a region
    may take (disjoint between the roles of one scene)."""

    layout: str
    palette: dict[str, tuple[str, ...]]


# roles per layout: land (sky, hills, ground, sky_patch, ground_patch), coast (sky, sea, shore,
# sky_patch), room (wall, floor, window, rug), city (sky, building, street)
SCENES: dict[str, Scene] = {
    "meadow": Scene("land", {"sky": ("blue", "cyan"), "hills": ("green",), "ground": ("lime",),
                             "sky_patch": ("white", "gold"), "ground_patch": ("yellow", "pink")}),
    "desert": Scene("land", {"sky": ("salmon", "lavender"), "hills": ("orange",), "ground": ("beige", "gold"),
                             "sky_patch": ("white",), "ground_patch": ("brown",)}),
    "night": Scene("land", {"sky": ("black", "navy"), "hills": ("indigo",), "ground": ("purple",),
                            "sky_patch": ("white", "silver"), "ground_patch": ("teal",)}),
    "snowfield": Scene("land", {"sky": ("lavender",), "hills": ("silver",), "ground": ("white",),
                                "sky_patch": ("yellow",), "ground_patch": ("grey", "blue")}),
    "forest": Scene("land", {"sky": ("green", "black"), "hills": ("olive",), "ground": ("brown", "gold"),
                             "sky_patch": ("lime",), "ground_patch": ("maroon", "red")}),
    "farmland": Scene("land", {"sky": ("blue",), "hills": ("green",), "ground": ("olive", "gold"),
                               "sky_patch": ("white",), "ground_patch": ("red", "orange")}),
    "swamp": Scene("land", {"sky": ("grey",), "hills": ("teal",), "ground": ("olive", "magenta"),
                            "sky_patch": ("silver",), "ground_patch": ("lime", "green")}),
    "volcano": Scene("land", {"sky": ("silver", "grey"), "hills": ("maroon",), "ground": ("black", "red"),
                              "sky_patch": ("gold",), "ground_patch": ("orange",)}),
    "sunset": Scene("land", {"sky": ("orange", "salmon"), "hills": ("indigo",), "ground": ("navy", "purple"),
                             "sky_patch": ("yellow", "gold"), "ground_patch": ("magenta",)}),
    "savanna": Scene("land", {"sky": ("gold",), "hills": ("olive",), "ground": ("yellow", "orange"),
                              "sky_patch": ("red",), "ground_patch": ("green",)}),
    "mountain": Scene("land", {"sky": ("blue", "lavender"), "hills": ("grey", "silver"), "ground": ("green", "magenta"),
                               "sky_patch": ("white",), "ground_patch": ("teal",)}),
    "jungle": Scene("land", {"sky": ("lime",), "hills": ("green",), "ground": ("teal", "olive"),
                             "sky_patch": ("yellow",), "ground_patch": ("magenta", "red")}),
    "garden": Scene("land", {"sky": ("pink",), "hills": ("green",), "ground": ("brown",),
                             "sky_patch": ("gold",), "ground_patch": ("red", "magenta", "yellow")}),
    "tundra": Scene("land", {"sky": ("silver", "white"), "hills": ("lavender",), "ground": ("beige",),
                             "sky_patch": ("red",), "ground_patch": ("olive", "grey")}),
    "beach": Scene("coast", {"sky": ("cyan",), "sea": ("blue", "teal"), "shore": ("beige", "yellow"),
                             "sky_patch": ("white",)}),
    "harbour": Scene("coast", {"sky": ("grey", "silver"), "sea": ("navy", "indigo"), "shore": ("brown", "maroon"),
                               "sky_patch": ("white",)}),
    "lake": Scene("coast", {"sky": ("lavender", "orange"), "sea": ("blue", "indigo"), "shore": ("green", "lime"),
                            "sky_patch": ("white",)}),
    "iceberg": Scene("coast", {"sky": ("silver", "lavender"), "sea": ("navy", "teal"), "shore": ("white",),
                               "sky_patch": ("yellow",)}),
    "reef": Scene("coast", {"sky": ("cyan",), "sea": ("teal", "navy"), "shore": ("salmon", "magenta"),
                            "sky_patch": ("orange", "gold")}),
    "bedroom": Scene("room", {"wall": ("pink", "purple"), "floor": ("brown", "beige"), "window": ("cyan", "blue"),
                              "rug": ("magenta", "indigo")}),
    "kitchen": Scene("room", {"wall": ("yellow", "red"), "floor": ("grey", "black"), "window": ("cyan",),
                              "rug": ("white", "orange")}),
    "bathroom": Scene("room", {"wall": ("pink", "salmon"), "floor": ("teal", "silver"), "window": ("blue",),
                               "rug": ("indigo", "purple")}),
    "office": Scene("room", {"wall": ("purple", "gold"), "floor": ("navy", "indigo"), "window": ("silver", "cyan"),
                             "rug": ("maroon", "magenta")}),
    "library": Scene("room", {"wall": ("maroon",), "floor": ("brown", "red"), "window": ("silver", "white"),
                              "rug": ("gold", "green")}),
    "classroom": Scene("room", {"wall": ("olive", "lime"), "floor": ("beige", "orange"), "window": ("cyan", "white"),
                                "rug": ("teal", "black")}),
    "playroom": Scene("room", {"wall": ("yellow", "pink"), "floor": ("orange", "magenta"), "window": ("white",),
                               "rug": ("lime", "blue", "red")}),
    "street": Scene("city", {"sky": ("blue", "cyan"), "building": ("grey", "beige", "maroon", "red"),
                             "street": ("black", "indigo")}),
    "market": Scene("city", {"sky": ("salmon", "lavender"), "building": ("red", "orange", "yellow", "magenta"),
                             "street": ("beige", "white")}),
    "industrial": Scene("city", {"sky": ("silver", "salmon"), "building": ("maroon", "navy", "olive", "brown"),
                                 "street": ("black",)}),
    "skyline": Scene("city", {"sky": ("navy", "black"), "building": ("indigo", "purple", "teal"),
                              "street": ("grey",)}),
}

CATEGORIES: tuple[str, ...] = ("color", "object", "part", "texture", "scene")


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
    """Parameters of the generator; the defaults are the embedded default dataset. The difficulty of
    the classification task is set by the main object's size, the distractors (how many, how large,
    how much of the main object they may hide), the textures and the pixel noise."""

    size: int = 32
    min_scale: float = 0.29  # main object half-size as a fraction of the image side
    max_scale: float = 0.43
    max_rotation: float = 10.0  # degrees; small so that square and diamond stay distinct
    min_distractors: int = 0  # distractor objects per image, uniform in [min, max]
    max_distractors: int = 1
    distractor_min_scale: float = 0.06  # distractor half-size as a fraction of the image side
    distractor_max_scale: float = 0.11
    max_occlusion: float = 0.15  # largest fraction of the main object the distractors may hide
    min_contrast: float = 100.0  # least RGB distance between the main object's and the background's colours
    p_object_texture: float = 0.5
    p_background_texture: float = 0.2  # per background region
    noise: float = 6.0  # std of additive Gaussian pixel noise, in 0..255 units
    shade: float = 70.0  # luminance shift of a texture's pattern pixels
    context: float = 0.55  # probability that scene, object texture and colour follow the class (context_of)

    def __post_init__(self) -> None:
        if self.size < 8 or self.size % 2:
            raise ValueError(f"shapes.size must be an even integer >= 8, got {self.size}")
        if not 0 < self.min_scale <= self.max_scale < 0.5:
            raise ValueError(
                "shapes.min_scale and shapes.max_scale must satisfy 0 < min_scale <= max_scale < 0.5, "
                f"got {self.min_scale}, {self.max_scale}"
            )
        if not 0 < self.distractor_min_scale <= self.distractor_max_scale < 0.5:
            raise ValueError(
                "shapes.distractor_min_scale and shapes.distractor_max_scale must satisfy "
                f"0 < min <= max < 0.5, got {self.distractor_min_scale}, {self.distractor_max_scale}"
            )
        if not 0 <= self.min_distractors <= self.max_distractors:
            raise ValueError(
                "shapes.min_distractors and shapes.max_distractors must satisfy 0 <= min <= max, "
                f"got {self.min_distractors}, {self.max_distractors}"
            )
        if not 0 <= self.max_occlusion < 1:
            raise ValueError(f"shapes.max_occlusion must be in [0, 1), got {self.max_occlusion}")
        if self.min_contrast < 0:
            raise ValueError(f"shapes.min_contrast must be >= 0, got {self.min_contrast}")
        if not 0 <= self.context <= 1:
            raise ValueError(f"shapes.context must be in [0, 1], got {self.context}")


def context_of(target: int) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """The context a class prefers, as objects in natural images have one (cows in meadows, brown
    and furry): 3 of the scenes, one texture and 2 colours, disjoint between the classes where there
    are enough of them (class i: scenes 3i .. 3i+2, texture i mod T, colours 2i and 2i+1 mod C, in
    the order of :data:`SCENES`, :data:`TEXTURES`, :data:`COLORS`). With probability
    ``ShapesSpec.context`` an image is "in context": its scene is one of its class's, its object's
    texture (when textured) is its class's and its object's colour is one of its class's (when that
    contrasts with the background); otherwise all are drawn from all of them."""
    scenes, colors = list(SCENES), list(COLORS)
    return (tuple(scenes[(3 * target + j) % len(scenes)] for j in range(3)), TEXTURES[target % len(TEXTURES)],
            tuple(colors[(2 * target + j) % len(colors)] for j in range(2)))


def label_names() -> list[tuple[str, str]]:
    """(name, category) for every label in Broden numbering order; label 0 is background."""
    out = [(c, "color") for c in COLORS]
    out += [(s, "object") for s in SHAPES + DISTRACTORS]
    out += [(p, "part") for p in PARTS]
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
    # distractors
    if shape == "heart":  # two lobes above a point
        lobes = ((np.abs(u) - 0.45) ** 2 + (v + 0.35) ** 2 <= 0.5**2)
        point = (v >= -0.35) & (v <= 0.95) & (np.abs(u) <= (0.95 - v) * (0.93 / 1.3))
        return lobes | point
    if shape == "hexagon":  # regular, circumradius 0.95, flat top and bottom
        au, av = np.abs(u), np.abs(v)
        return (av <= 0.95 * 0.866) & (0.866 * au + 0.5 * av <= 0.95 * 0.866)
    if shape == "bar":
        return (np.abs(u) <= 0.95) & (np.abs(v) <= 0.3)
    if shape == "chevron":  # a thick "v"
        return (np.abs(u) <= 0.9) & (np.abs(v - (0.9 * np.abs(u) - 0.4)) <= 0.28)
    if shape == "bowtie":  # two triangles meeting at the centre
        return (np.abs(u) <= 0.95) & (np.abs(v) <= 0.9 * np.abs(u) + 0.05)
    if shape == "trapezoid":  # narrow side up
        return (np.abs(v) <= 0.6) & (np.abs(u) <= 0.5 + 0.45 * (v + 0.6) / 1.2)
    raise KeyError(shape)


_VERTICES: dict[str, np.ndarray] = {
    "square": np.array([[-0.75, -0.75], [0.75, -0.75], [-0.75, 0.75], [0.75, 0.75]]),
    "triangle": np.array([[0.0, -0.9], [-0.9, 0.75], [0.9, 0.75]]),
    "diamond": np.array([[0.0, -0.98], [0.98, 0.0], [0.0, 0.98], [-0.98, 0.0]]),
}


def _part(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Part of a class shape at points inside it (object units, as :func:`_inside`): index into
    :data:`PARTS` plus one, 0 for the rest of the body. Outside the shape the value is meaningless."""
    out = np.zeros(u.shape, dtype=np.int64)
    if shape in _VERTICES:
        d2 = np.min([(u - a) ** 2 + (v - b) ** 2 for a, b in _VERTICES[shape]], axis=0)
        out[d2 <= 0.45**2] = PARTS.index("corner") + 1
    elif shape == "star":
        out[u * u + v * v > 0.6**2] = PARTS.index("point") + 1
    elif shape == "cross":
        out[np.maximum(np.abs(u), np.abs(v)) > 0.5] = PARTS.index("arm") + 1
    elif shape == "crescent":
        out[u > 0.05] = PARTS.index("horn") + 1
    elif shape == "arrow":
        out[:] = PARTS.index("shaft") + 1
        out[v <= -0.1] = PARTS.index("arrowhead") + 1
    return out


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
    if texture == "crosshatched":  # both diagonals
        return ((x + y) % 4 == 0) | ((x - y) % 4 == 0)
    raise KeyError(texture)


# Euclidean distance between two named colours in RGB (0..255)
_DISTANCE: dict[str, dict[str, float]] = {
    a: {b: float(np.linalg.norm(np.subtract(COLORS[a], COLORS[b], dtype=np.float64))) for b in COLORS} for a in COLORS
}


def _shaded(rgb: tuple[int, int, int], shade: float) -> np.ndarray:
    base = np.asarray(rgb, dtype=np.float32)
    lum = 0.299 * base[0] + 0.587 * base[1] + 0.114 * base[2]
    return np.clip(base + (shade if lum < 110 else -shade), 0, 255)


# ---- background layouts: (mask, role) regions in painting order, on super-sample centres ----------

Grid = tuple[np.ndarray, np.ndarray, int]  # (xx, yy) super-sample centres in image pixels, image side
Regions = list[tuple[np.ndarray, str]]


def _ellipse(g: Grid, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    xx, yy, _ = g
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def _rect(g: Grid, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    xx, yy, _ = g
    return (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)


def _land(g: Grid, rng: np.random.Generator) -> Regions:
    """Sky, a band of hills with a wavy top, ground; a cloud in the sky, a pond on the ground (both
    flat ellipses, so that they do not look like the objects)."""
    xx, yy, n = g
    horizon = rng.uniform(0.25, 0.45) * n
    hills_top = horizon + rng.uniform(0.5, 1.5) * np.sin(xx * rng.uniform(0.2, 0.5) + rng.uniform(0, 2 * np.pi))
    ground_top = horizon + rng.uniform(0.12, 0.22) * n
    cloud = _ellipse(g, rng.uniform(0.15, 0.85) * n, rng.uniform(0.3, 0.7) * horizon, rng.uniform(0.2, 0.3) * n,
                     rng.uniform(0.06, 0.09) * n)
    pond = _ellipse(g, rng.uniform(0.2, 0.8) * n, rng.uniform(ground_top + 0.1 * n, 0.9 * n),
                    rng.uniform(0.18, 0.32) * n, rng.uniform(0.08, 0.14) * n)
    return [(np.ones_like(xx, dtype=bool), "sky"), (yy >= hills_top, "hills"), (yy >= ground_top, "ground"),
            (cloud & (yy < hills_top), "sky_patch"), (pond & (yy >= ground_top), "ground_patch")]


def _coast(g: Grid, rng: np.random.Generator) -> Regions:
    """Sky, sea and shore bands (the shoreline slanted), a cloud in the sky."""
    xx, yy, n = g
    horizon = rng.uniform(0.25, 0.45) * n
    shore = rng.uniform(0.6, 0.8) * n + rng.uniform(-0.2, 0.2) * (xx - n / 2)
    cloud = _ellipse(g, rng.uniform(0.15, 0.85) * n, rng.uniform(0.3, 0.7) * horizon, rng.uniform(0.2, 0.3) * n,
                     rng.uniform(0.06, 0.09) * n)
    return [(np.ones_like(xx, dtype=bool), "sky"), (yy >= horizon, "sea"), (yy >= shore, "shore"),
            (cloud & (yy < horizon), "sky_patch")]


def _room(g: Grid, rng: np.random.Generator) -> Regions:
    """Wall above a floor line, a wide window on the wall, a flat oval rug on the floor."""
    xx, yy, n = g
    floor = rng.uniform(0.55, 0.72) * n
    ww, wh = rng.uniform(0.4, 0.6) * n, rng.uniform(0.14, 0.22) * n
    wx, wy = rng.uniform(0.05 * n, 0.95 * n - ww), rng.uniform(0.08 * n, max(0.08 * n, floor - wh - 0.05 * n))
    rug = _ellipse(g, rng.uniform(0.25, 0.75) * n, rng.uniform(floor + 0.1 * n, 0.9 * n),
                   rng.uniform(0.22, 0.36) * n, rng.uniform(0.08, 0.12) * n)
    return [(np.ones_like(xx, dtype=bool), "wall"), (yy >= floor, "floor"),
            (_rect(g, wx, wy, wx + ww, wy + wh) & (yy < floor), "window"), (rug & (yy >= floor), "rug")]


def _city(g: Grid, rng: np.random.Generator) -> Regions:
    """Sky, a row of 3-5 buildings of different heights, a street."""
    xx, yy, n = g
    street = rng.uniform(0.78, 0.88) * n
    k = int(rng.integers(3, 6))
    edges = np.concatenate([[0.0], np.sort(rng.uniform(0.1, 0.9, k - 1)), [1.0]]) * n
    out: Regions = [(np.ones_like(xx, dtype=bool), "sky")]
    for j in range(k):
        top = rng.uniform(0.2, 0.6) * n
        out.append((_rect(g, edges[j], top, edges[j + 1], street), "building"))
    out.append((yy >= street, "street"))
    return out


LAYOUTS: dict[str, Callable[[Grid, np.random.Generator], Regions]] = {
    "land": _land, "coast": _coast, "room": _room, "city": _city,
}


@dataclass
class Sample:
    image: np.ndarray  # (size, size, 3) uint8
    target: int  # class = index of the main object's shape in SHAPES
    seg: dict[str, np.ndarray]  # pixel category -> (size/2, size/2) int32 global label numbers
    scene: int  # global label number of the scene


@dataclass
class _Region:
    mask: np.ndarray  # (ss, ss) bool: super-samples the region is painted on
    color: str
    texture: str | None
    obj: int = 0  # object label number, 0 for background
    parts: np.ndarray | None = None  # (ss, ss) part index + 1 (main object only)


def _place(shape: str, g: Grid, half: float, cx: float, cy: float, theta: float) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """Mask of a shape of half-size ``half`` centred at (cx, cy), rotated by ``theta``; and the
    object-unit coordinates (u, v) of every super-sample."""
    xx, yy, _ = g
    dx, dy = (xx - cx) / half, (yy - cy) / half
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * dx + s * dy, -s * dx + c * dy
    return _inside(shape, u, v), u, v


def render(spec: ShapesSpec, rng: np.random.Generator, target: int | None = None) -> Sample:
    """Draw one image and its labels from ``rng``; its class is drawn too, unless ``target`` fixes it
    (the class draw is made either way, so the rest of the stream is the same)."""
    n = spec.size
    ss = 2 * n
    numbers = label_numbers()
    coords = (np.arange(ss, dtype=np.float32) + 0.5) / 2.0  # super-sample centres in image pixels
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    g: Grid = (xx, yy, n)

    def texture(p: float) -> str | None:
        return TEXTURES[rng.integers(len(TEXTURES))] if rng.random() < p else None

    # the class first: with probability ``context`` the scene and the object's look follow it
    shape_idx = int(rng.integers(len(SHAPES)))
    if target is not None:
        shape_idx = int(target)
    shape = SHAPES[shape_idx]
    in_context = rng.random() < spec.context
    ctx_scenes, ctx_texture, ctx_colors = context_of(shape_idx)

    # background
    scene_name = (ctx_scenes[rng.integers(len(ctx_scenes))] if in_context
                  else list(SCENES)[rng.integers(len(SCENES))])
    scene = SCENES[scene_name]
    regions: list[_Region] = []
    for mask, role in LAYOUTS[scene.layout](g, rng):
        options = scene.palette[role]
        regions.append(_Region(mask, options[rng.integers(len(options))], texture(spec.p_background_texture)))
    background = {r.color for r in regions}
    free = [c for c in COLORS if c not in background]
    # the main object's colour contrasts with every background colour (the most distant one if none does)
    contrast = {c: min(_DISTANCE[c][b] for b in background) for c in free}
    vivid = [c for c in free if contrast[c] >= spec.min_contrast] or [max(free, key=contrast.__getitem__)]

    # main object: a class shape, in a colour the background does not use
    half = rng.uniform(spec.min_scale, spec.max_scale) * n
    cx, cy = rng.uniform(half, n - half, size=2)
    theta = np.deg2rad(rng.uniform(-spec.max_rotation, spec.max_rotation))
    obj, u, v = _place(shape, g, half, cx, cy, theta)
    preferred = [c for c in ctx_colors if c in vivid] if in_context else []
    main_color = (preferred or vivid)[rng.integers(len(preferred or vivid))]
    main_texture = texture(spec.p_object_texture)
    if main_texture is not None and in_context:
        main_texture = ctx_texture
    main = _Region(obj, main_color, main_texture, numbers[("object", shape)], _part(shape, u, v))
    regions.append(main)
    main_index = len(regions) - 1

    # distractors: smaller non-class shapes on top, any rotation, hiding at most max_occlusion of it
    others = [c for c in free if c != main_color]
    hidden = np.zeros_like(obj)
    area = max(int(obj.sum()), 1)
    for _ in range(int(rng.integers(spec.min_distractors, spec.max_distractors + 1))):
        d_shape = DISTRACTORS[rng.integers(len(DISTRACTORS))]
        d_half = rng.uniform(spec.distractor_min_scale, spec.distractor_max_scale) * n
        d_color = others[rng.integers(len(others))]
        d_tex = texture(spec.p_object_texture)
        d_theta = rng.uniform(0, 2 * np.pi)
        for _try in range(4):
            dx, dy = rng.uniform(d_half, n - d_half, size=2)
            d_mask = _place(d_shape, g, d_half, dx, dy, d_theta)[0]
            if ((hidden | d_mask) & obj).sum() <= spec.max_occlusion * area:
                hidden |= d_mask
                regions.append(_Region(d_mask, d_color, d_tex, numbers[("object", d_shape)]))
                break

    # composite: each super-sample shows the last region painted over it
    rid = np.zeros((ss, ss), dtype=np.int64)
    for i, r in enumerate(regions):
        rid[r.mask] = i
    base = np.array([COLORS[r.color] for r in regions], dtype=np.float32)
    shaded = np.stack([_shaded(COLORS[r.color], spec.shade) for r in regions])
    ix, iy = np.floor(xx).astype(np.int64), np.floor(yy).astype(np.int64)  # image pixel of a super-sample
    pattern = np.zeros((ss, ss), dtype=bool)
    for i, r in enumerate(regions):
        if r.texture is not None:
            pattern |= (rid == i) & _pattern(r.texture, ix, iy, rng)
    img = np.where(pattern[..., None], shaded[rid], base[rid])
    img = img.reshape(n, 2, n, 2, 3).mean(axis=(1, 3))
    if spec.noise > 0:
        img = img + rng.normal(0.0, spec.noise, size=img.shape).astype(np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    # segmentation at half resolution: each pixel belongs to the region showing in most of its
    # 4x4 super-samples (ties: the region painted last)
    h = n // 2
    k = len(regions)
    counts = (rid[None] == np.arange(k)[:, None, None]).reshape(k, h, 4, h, 4).sum(axis=(2, 4))
    owner = np.argmax(counts * k + np.arange(k)[:, None, None], axis=0)
    color_seg = np.array([numbers[("color", r.color)] for r in regions], dtype=np.int32)[owner]
    texture_seg = np.array([0 if r.texture is None else numbers[("texture", r.texture)] for r in regions],
                           dtype=np.int32)[owner]
    object_seg = np.array([r.obj for r in regions], dtype=np.int32)[owner]
    # parts of the main object: plurality over its visible super-samples (body = 0 loses ties)
    n_parts = len(PARTS) + 1
    part_ss = np.where(rid == main_index, main.parts, -1)
    part_counts = (part_ss[None] == np.arange(n_parts)[:, None, None]).reshape(n_parts, h, 4, h, 4).sum(axis=(2, 4))
    best = np.argmax(part_counts * n_parts + np.arange(n_parts)[:, None, None], axis=0)
    part_number = np.array([0] + [numbers[("part", p)] for p in PARTS], dtype=np.int32)
    part_seg = np.where(owner == main_index, part_number[best], 0).astype(np.int32)
    return Sample(
        image=image,
        target=shape_idx,
        seg={"color": color_seg, "object": object_seg, "part": part_seg, "texture": texture_seg},
        scene=numbers[("scene", scene_name)],
    )


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """An independent random stream per (seed, split, image): any image can be regenerated alone."""
    split_code = {"train": 1, "val": 2, "probe": 3}[split]
    return np.random.default_rng(np.random.SeedSequence([seed, split_code, index]))


def sample(spec: ShapesSpec, seed: int, split: str, index: int) -> Sample:
    """Image ``index`` of ``split``. Training and validation classes are drawn uniformly (i.i.d.); the
    probe is class-balanced (image i is of class i mod 10, as ImageNet's validation set has 50 images
    of every class), so that each class has n/10 probe images: MIS takes N·(K+1) = 100 images from a
    unit's end of the ranking, and a class-selective unit's must all be of its class."""
    return render(spec, image_rng(seed, split, index), target=index % len(SHAPES) if split == "probe" else None)


def generate(spec: ShapesSpec, n: int, seed: int, split: str) -> list[Sample]:
    return [sample(spec, seed, split, i) for i in range(n)]


def generate_arrays(spec: ShapesSpec, n: int, seed: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, H, W, 3) uint8 and targets (n,) int64 for a classification split."""
    images = np.empty((n, spec.size, spec.size, 3), dtype=np.uint8)
    targets = np.empty(n, dtype=np.int64)
    for i in range(n):
        drawn = sample(spec, seed, split, i)
        images[i] = drawn.image
        targets[i] = drawn.target
    return images, targets
