import numpy as np
import pytest
import torch
from PIL import Image

from pruneinterp.data.shapes import ShapesSpec


@pytest.fixture(scope="session")
def spec():
    return ShapesSpec()


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory, spec):
    from pruneinterp.data.broden import write_shapes_probe

    d = tmp_path_factory.mktemp("probe") / "probe"
    write_shapes_probe(d, 40, 3, spec)
    return d


# One thread for every test, set before any fixture runs: a module-scoped fixture is built before the
# function-scoped ones, and a network trained on 2 threads differs in the last bits from one trained
# on 1 (reduction order), which made a reproducibility test depend on the order the tests ran in.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    np.random.seed(0)


def train_tiny_dense(d, n_train, n_val, cfg, rewind_iteration):
    """Generate a tiny shapes dataset in ``d`` and train a width-4 dense convnet on it; returns the
    dense stage's output paths (init, rewind, checkpoint, metrics)."""
    from pruneinterp import stages

    stages.make_data(d, n_train, n_val, 4, 0)
    out = {k: str(d / "dense" / f"{k}.pt") for k in ("init", "rewind", "checkpoint")}
    out["metrics"] = str(d / "dense" / "metrics.csv")
    stages.train_dense(str(d / "train.npz"), str(d / "val.npz"), out, "convnet", {"width": 4}, cfg, 0,
                       rewind_iteration)
    return out


def write_jpegs(root, sizes, seed=0):
    """JPEGs of 8x8-pixel random blocks (some structure for the codec) of the given (h, w) sizes in
    ``root``; returns their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (h, w) in enumerate(sizes):
        base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        img = np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w]
        path = root / f"{i}.jpg"
        Image.fromarray(img).save(path, quality=90)
        paths.append(str(path))
    return paths
