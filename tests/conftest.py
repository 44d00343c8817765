import numpy as np
import pytest
import torch

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


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    np.random.seed(0)
