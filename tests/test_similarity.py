"""SVCCA / PWCCA / linear CKA: invariances, independence bounds, agreement with the textbook."""

import numpy as np
import pytest
import torch

from pruneinterp.similarity import (as_samples, canonical_correlations, linear_cka, pwcca, reference_svcca,
                                    similarity, svcca)


def _data(n=3000, p=40, seed=0):
    rng = np.random.default_rng(seed)
    # correlated neurons with a decaying spectrum, like a layer's activations
    return rng.standard_normal((n, p)) @ np.diag(np.linspace(3, 0.2, p)) @ rng.standard_normal((p, p))


def _orthogonal(p, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, p)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("method", ["svcca", "pwcca", "cka"])
def test_a_layer_is_identical_to_itself(method):
    x = _data()
    assert similarity(method, x, x).similarity == pytest.approx(1.0, abs=1e-9)


def test_svcca_of_a_rotated_and_scaled_copy_is_one():
    x = _data()
    r = svcca(x, 3.0 * x @ _orthogonal(40, 1) + 5.0)  # rotation, isotropic scaling, shift
    assert r.similarity == pytest.approx(1.0, abs=1e-9) and r.dims_a == r.dims_b


def test_cca_is_invariant_to_any_invertible_linear_map_when_no_direction_is_dropped():
    x = _data()
    a = np.random.default_rng(2).standard_normal((40, 40)) + 5 * np.eye(40)  # invertible, not orthogonal
    assert svcca(x, x @ a, keep=1.0).similarity == pytest.approx(1.0, abs=1e-8)
    assert pwcca(x, x @ a).similarity == pytest.approx(1.0, abs=1e-8)


def test_cka_invariant_to_orthogonal_maps_and_isotropic_scaling_but_not_to_general_ones():
    x = _data()
    assert linear_cka(x, 0.1 * x @ _orthogonal(40, 3)).similarity == pytest.approx(1.0, abs=1e-10)
    skew = np.diag(np.linspace(0.1, 10, 40))
    assert linear_cka(x, x @ skew).similarity < 0.99


def test_independent_representations_are_near_zero_within_the_derived_bound():
    """For independent data, Qa^T Qb is a ka x kb matrix with entries of variance 1/n, so every
    canonical correlation is at most about (sqrt(ka) + sqrt(kb)) / sqrt(n) (Bai-Yin edge); linear
    CKA is about sqrt(ka kb) / n."""
    n, p = 20000, 10
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((n, p)), rng.standard_normal((n, p))
    bound = (2 * np.sqrt(p)) / np.sqrt(n)  # 0.045
    rho, ka, kb, _ = canonical_correlations(a, b, keep=1.0)
    assert ka == kb == p and rho.max() < 1.2 * bound
    assert svcca(a, b, keep=1.0).similarity < 1.2 * bound
    assert pwcca(a, b).similarity < 1.2 * bound
    assert linear_cka(a, b).similarity < 3 * np.sqrt(p * p) / n


@pytest.mark.parametrize("method", ["svcca", "cka"])
def test_symmetric_in_its_arguments(method):
    a, b = _data(seed=0), _data(seed=1)[:, :30] + 0.5 * _data(seed=0)[:, :30]
    assert similarity(method, a, b).similarity == pytest.approx(similarity(method, b, a).similarity, abs=1e-10)


@pytest.mark.parametrize("case", ["random", "low_rank_plus_noise", "wide"])
def test_mean_canonical_correlation_equals_the_textbook_computation(case):
    rng = np.random.default_rng(7)
    n = 4000
    if case == "random":
        a, b = rng.standard_normal((n, 60)), rng.standard_normal((n, 50))
        b[:, :10] += a[:, :10]
    elif case == "low_rank_plus_noise":
        z = rng.standard_normal((n, 6))
        a = z @ rng.standard_normal((6, 80)) + 0.05 * rng.standard_normal((n, 80))
        b = z[:, :4] @ rng.standard_normal((4, 70)) + 0.05 * rng.standard_normal((n, 70))
    else:
        a, b = _data(n, 300, 8), _data(n, 200, 9)
    got = svcca(a, b).similarity
    assert got == pytest.approx(reference_svcca(a, b), abs=1e-8)
    assert 0.0 < got < 1.0


def test_fixed_dims_and_too_few_samples_error():
    x, y = _data(500, 40, 0), _data(500, 40, 1)
    r = svcca(x, y, dims=7)
    assert (r.dims_a, r.dims_b) == (7, 7) and len(r.correlations) == 7
    with pytest.raises(ValueError, match="more samples than dimensions"):
        svcca(x[:30], y[:30], keep=1.0)
    with pytest.raises(ValueError, match="same inputs in the same order"):
        svcca(x, y[:400])
    with pytest.raises(ValueError, match="constant"):
        svcca(np.ones((100, 3)), y[:100])
    with pytest.raises(ValueError, match="allowed: svcca, pwcca, cka"):
        similarity("rsa", x, y)


def test_conv_activations_as_samples():
    acts = np.random.default_rng(0).random((10, 4, 6, 6)).astype(np.float32)
    assert as_samples(acts, "mean").shape == (10, 4)
    full = as_samples(acts, "positions")
    assert full.shape == (360, 4)
    np.testing.assert_allclose(full[7], acts[0, :, 1, 1])  # image 0, position (1, 1)
    sub1, sub2 = as_samples(acts, "positions", 100, seed=3), as_samples(acts, "positions", 100, seed=3)
    np.testing.assert_array_equal(sub1, sub2)
    assert sub1.shape == (100, 4)
    assert as_samples(acts, "positions", size=(3, 3)).shape == (90, 4)
    with pytest.raises(ValueError, match="positions, mean"):
        as_samples(acts, "max")


@pytest.mark.parametrize("method", ["svcca", "pwcca", "cka"])
def test_device_argument_moves_the_computation_and_keeps_the_value(method):
    """The stage's ``device`` (cpu here; cuda on a GPU machine): numpy input is moved there as
    float64 tensors and the value equals the computation on the inputs as given."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((400, 12))
    b = a @ rng.standard_normal((12, 9)) + 0.3 * rng.standard_normal((400, 9))
    here = similarity(method, a, b)
    moved = similarity(method, a, b, device=torch.device("cpu"))
    assert moved.similarity == pytest.approx(here.similarity, abs=1e-12)
    assert (moved.dims_a, moved.dims_b) == (here.dims_a, here.dims_b)
    assert isinstance(moved.correlations, np.ndarray)
    assert 0.3 < here.similarity < 1.0  # a real, non-trivial value
