"""Representation similarity between two layers: SVCCA (Raghu et al. 2017), PWCCA (Morcos et al.
2018) and linear CKA (Kornblith et al. 2019).

Inputs are (samples, neurons) matrices whose rows are the same probe inputs in the same order (for
conv layers, see :func:`as_samples`). Everything is float64.

SVCCA: centre each neuron; keep the top singular directions of each side that explain ``keep``
(default 99%) of its variance (eigenvalues = squared singular values), or a fixed number ``dims``;
the canonical correlations between the two reduced subspaces are the singular values of
``Qa^T Qb`` for orthonormal bases Qa, Qb of the subspaces (no covariance matrix is inverted);
similarity = their mean.

How it is computed: the right singular vectors and values of a centred matrix X (n x p) are the
eigenvectors and square roots of the eigenvalues of its Gram matrix ``X^T X`` (p x p), and
``Qa = Xa Va Sa^-1``; so ``Qa^T Qb = Sa^-1 Va^T (Xa^T Xb) Vb Sb^-1`` needs only the three p x p
products of the data -- never an n-sized factorisation. This squares the condition number of the
kept directions; when that could cost accuracy (kept singular values spanning more than 1e4) the
bases come from a thin SVD of the data instead.

PWCCA: CCA on the subspaces kept with ``keep`` (default 1.0: every direction with non-negligible
variance), each canonical correlation weighted by how much of the *first* representation its
canonical variate accounts for, ``alpha_i = sum_j |<h_i, x_j>|`` over the (centred) neurons x_j,
normalised to sum to 1. PWCCA is therefore not symmetric.

Linear CKA: ``||Xb^T Xa||_F^2 / (||Xa^T Xa||_F ||Xb^T Xb||_F)`` on centred matrices; invariant to
orthogonal transforms and isotropic scaling of either side (not to general invertible maps, unlike
CCA).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import columns

METHODS = ("svcca", "pwcca", "cka")
RESULT_COLUMNS = columns.SIMILARITY
_RELATIVE_RANK_TOL = 1e-10  # singular values below this fraction of the largest are numerically zero
_GRAM_COND_LIMIT = 1e4      # kept singular values spanning more than this: use a thin SVD instead


@dataclass(frozen=True)
class SimilarityConfig:
    """Settings of the similarity stage: the measures (alone, the stage computes SVCCA; the workflow's
    default adds PWCCA and CKA for the metric comparison), SVCCA's and PWCCA's variance fractions (or a
    fixed number of directions ``dims``), how conv layers become samples (``conv``: every (image,
    position), or spatial means) and the seeded subset of at most ``max_samples`` positions."""

    methods: tuple[str, ...] = ("svcca",)  # the workflow computes all three (schema), for bl_metrics
    keep: float = 0.99
    pwcca_keep: float = 1.0
    dims: int | None = None
    conv: str = "positions"
    max_samples: int | None = 20000
    seed: int = 0

    def __post_init__(self) -> None:
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"unknown similarity method {m!r}; allowed: {', '.join(METHODS)}")
        if self.conv not in ("positions", "mean"):
            raise ValueError(f"similarity conv must be positions or mean; got {self.conv!r}")


@dataclass
class Result:
    similarity: float
    dims_a: int
    dims_b: int
    n_samples: int
    correlations: np.ndarray  # canonical correlations (empty for CKA)


def _tensor(x: "np.ndarray | torch.Tensor") -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(torch.float64)
    if t.ndim != 2:
        raise ValueError(f"similarity needs (samples, neurons) matrices, got shape {tuple(t.shape)}")
    return t - t.mean(dim=0, keepdim=True)


def _keep_count(s: torch.Tensor, keep: float, dims: int | None) -> int:
    """Number of leading singular directions kept: a fixed ``dims`` or the fewest explaining ``keep``
    of the variance; never directions that are numerically zero."""
    nonzero = int((s > s[0] * _RELATIVE_RANK_TOL).sum()) if len(s) and s[0] > 0 else 0
    if nonzero == 0:
        raise ValueError("a representation is constant over the samples (no variance): similarity undefined")
    if dims is not None:
        return min(int(dims), nonzero)
    if keep >= 1.0:
        return nonzero
    var = s[:nonzero] ** 2
    frac = torch.cumsum(var, 0) / var.sum()
    return int(torch.searchsorted(frac, torch.tensor([keep], dtype=frac.dtype, device=frac.device), right=False)[0]) + 1


@dataclass
class _Side:
    x: torch.Tensor        # centred data (n, p)
    gram: torch.Tensor     # X^T X (p, p)
    s: torch.Tensor        # singular values, descending
    v: torch.Tensor        # right singular vectors (p, p), columns
    k: int                 # kept directions
    q: torch.Tensor | None = None  # orthonormal basis (n, k) when computed by SVD


def _side(x: torch.Tensor, keep: float, dims: int | None) -> _Side:
    gram = x.T @ x
    evals, evecs = torch.linalg.eigh(gram)
    order = torch.argsort(evals, descending=True)
    s = evals[order].clamp(min=0).sqrt()
    v = evecs[:, order]
    k = _keep_count(s, keep, dims)
    side = _Side(x, gram, s, v, k)
    if s[0] / s[k - 1] > _GRAM_COND_LIMIT:  # the Gram route would lose accuracy: factorise the data
        u, s2, vh = torch.linalg.svd(x, full_matrices=False)
        k = _keep_count(s2, keep, dims)
        side = _Side(x, gram, s2, vh.T, k, q=u[:, :k])
    return side


def _check_samples(n: int, a: _Side, b: _Side) -> None:
    # after centring, n samples span at most n - 1 dimensions: with as many kept dimensions every
    # canonical correlation is 1 whatever the data
    if n - 1 <= max(a.k, b.k):
        raise ValueError(f"{n} samples but {max(a.k, b.k)} dimensions after reduction: CCA needs more samples "
                         f"than dimensions (use more probe images, spatial positions as samples, or fewer dims)")


def _coef(side: _Side) -> torch.Tensor:
    """C with Q = X C for the Gram route (C = V S^-1 over the kept directions)."""
    return side.v[:, :side.k] / side.s[:side.k]


def _cross(a: _Side, b: _Side) -> torch.Tensor:
    """Qa^T Qb for orthonormal bases of the kept subspaces (ka, kb)."""
    if a.q is not None and b.q is not None:
        return a.q.T @ b.q
    if a.q is not None:
        return (a.q.T @ b.x) @ _coef(b)
    if b.q is not None:
        return _coef(a).T @ (a.x.T @ b.q)
    return _coef(a).T @ (a.x.T @ b.x) @ _coef(b)


def _pair(a: "np.ndarray | torch.Tensor", b: "np.ndarray | torch.Tensor") -> tuple[torch.Tensor, torch.Tensor]:
    """Both representations centred, float64; they must have the same samples."""
    xa, xb = _tensor(a), _tensor(b)
    if xa.shape[0] != xb.shape[0]:
        raise ValueError(f"the two representations have {xa.shape[0]} and {xb.shape[0]} samples; they must be "
                         f"the same inputs in the same order")
    return xa, xb


def _sides(xa: torch.Tensor, xb: torch.Tensor, keep: float, dims: int | None) -> tuple[_Side, _Side]:
    sa, sb = _side(xa, keep, dims), _side(xb, keep, dims)
    _check_samples(xa.shape[0], sa, sb)
    return sa, sb


def canonical_correlations(a: "np.ndarray | torch.Tensor", b: "np.ndarray | torch.Tensor", keep: float = 0.99,
                           dims: int | None = None) -> tuple[np.ndarray, int, int, int]:
    """(correlations descending, dims kept of a, of b, samples) of the SVD-reduced subspaces."""
    xa, xb = _pair(a, b)
    sa, sb = _sides(xa, xb, keep, dims)
    rho = torch.linalg.svdvals(_cross(sa, sb)).clamp(0.0, 1.0)
    return rho.cpu().numpy(), sa.k, sb.k, xa.shape[0]


def svcca(a: "np.ndarray | torch.Tensor", b: "np.ndarray | torch.Tensor", keep: float = 0.99,
          dims: int | None = None) -> Result:
    rho, ka, kb, n = canonical_correlations(a, b, keep, dims)
    return Result(float(rho.mean()), ka, kb, n, rho)


def pwcca(a: "np.ndarray | torch.Tensor", b: "np.ndarray | torch.Tensor", keep: float = 1.0,
          dims: int | None = None) -> Result:
    xa, xb = _pair(a, b)
    sa, sb = _sides(xa, xb, keep, dims)
    u, rho, _ = torch.linalg.svd(_cross(sa, sb), full_matrices=False)  # u: (ka, r) in a's basis
    rho = rho.clamp(0.0, 1.0)
    # <h_i, x_j> with h_i = Qa u_i: Qa^T Xa = S^-1 V^T (Xa^T Xa) (Gram route) or Q^T Xa (SVD route)
    qa_t_xa = sa.q.T @ xa if sa.q is not None else _coef(sa).T @ sa.gram
    alpha = (u.T @ qa_t_xa).abs().sum(dim=1)
    alpha = alpha / alpha.sum()
    return Result(float((alpha * rho).sum()), sa.k, sb.k, xa.shape[0], rho.cpu().numpy())


def linear_cka(a: "np.ndarray | torch.Tensor", b: "np.ndarray | torch.Tensor", **_: object) -> Result:
    xa, xb = _pair(a, b)
    denom = torch.linalg.matrix_norm(xa.T @ xa) * torch.linalg.matrix_norm(xb.T @ xb)
    if denom == 0:
        raise ValueError("a representation is constant over the samples (no variance): similarity undefined")
    value = torch.linalg.matrix_norm(xb.T @ xa) ** 2 / denom
    return Result(float(value), xa.shape[1], xb.shape[1], xa.shape[0], np.zeros(0))


def similarity(method: str, a: "np.ndarray | torch.Tensor", b: "np.ndarray | torch.Tensor", keep: float | None = None,
               dims: int | None = None, device: "str | torch.device | None" = None) -> Result:
    """``method`` (svcca, pwcca, cka) between two (samples, neurons) matrices, in float64 on
    ``device`` (default: where the tensors are; numpy arrays: the CPU)."""
    if device is not None:
        a, b = (torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(device) for x in (a, b))
    if method == "svcca":
        return svcca(a, b, 0.99 if keep is None else keep, dims)
    if method == "pwcca":
        return pwcca(a, b, 1.0 if keep is None else keep, dims)
    if method == "cka":
        return linear_cka(a, b)
    raise ValueError(f"unknown similarity method {method!r}; allowed: {', '.join(METHODS)}")


def as_samples(acts: np.ndarray, conv: str = "positions", max_samples: int | None = None, seed: int = 0,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """(N, C) as is; (N, C, H, W) conv activations to (samples, C): ``positions`` makes every
    (image, position) a sample (``size`` first average-pools the maps to that spatial size, so layers
    of different resolution line up; ``max_samples`` keeps a seeded random subset -- the same rows for
    every model given the same N, size and seed), ``mean`` averages over positions (N samples)."""
    if acts.ndim == 2:
        return acts
    if acts.ndim != 4:
        raise ValueError(f"activations must be (N, C) or (N, C, H, W), got shape {acts.shape}")
    if conv == "mean":
        return acts.mean(axis=(2, 3))
    if conv != "positions":
        raise ValueError(f"unknown conv reduction {conv!r}; allowed: positions, mean")
    t = torch.from_numpy(np.ascontiguousarray(acts))
    if size is not None and tuple(t.shape[2:]) != tuple(size):
        t = torch.nn.functional.adaptive_avg_pool2d(t, size)
    x = t.permute(0, 2, 3, 1).reshape(-1, t.shape[1]).numpy()
    if max_samples is not None and len(x) > max_samples:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), size=max_samples, replace=False))
        x = x[rows]
    return x


def reference_svcca(a: np.ndarray, b: np.ndarray, keep: float = 0.99) -> float:
    """The textbook computation (numpy; for tests and ``bench/similarity.py``): SVD-reduce each
    centred side to ``keep`` of its variance, then the singular values of the whitened
    cross-covariance ``Caa^-1/2 Cab Cbb^-1/2`` (inverse square roots by eigendecomposition)."""
    def reduce(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        x = x - x.mean(axis=0)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        var = s ** 2
        k = int(np.searchsorted(np.cumsum(var) / var.sum(), keep)) + 1
        return x @ vt[:k].T

    def inv_sqrt(c: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(c)
        return (v / np.sqrt(w)) @ v.T

    xa, xb = reduce(a), reduce(b)
    n = len(xa)
    caa, cbb, cab = xa.T @ xa / (n - 1), xb.T @ xb / (n - 1), xa.T @ xb / (n - 1)
    rho = np.linalg.svd(inv_sqrt(caa) @ cab @ inv_sqrt(cbb), compute_uv=False)
    return float(np.clip(rho, 0, 1).mean())
