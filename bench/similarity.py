"""SVCCA: the project's implementation against the textbook numpy computation.

    python bench/similarity.py

Two cases, each timed for both implementations in this one process on the same data (best of 3):

* a dense layer: 10 000 samples x 512 neurons, activations with a decaying spectrum (a random
  mixing of neurons whose scales fall off), compared with a partly related second layer;
* the spatial-positions variant of a conv layer: 1 000 probe images x 64 channels at 8 x 8, every
  (image, position) a sample -> 64 000 x 64, compared with a noisy copy.

The textbook side (``pruneinterp.similarity.reference_svcca``): thin SVD of each centred matrix,
keep 99% of the variance, covariance matrices, inverse square roots by eigendecomposition, SVD of the
whitened cross-covariance. The results must agree to 1e-8; the speed ratio is printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pruneinterp.similarity import as_samples, reference_svcca, svcca


def _layer(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    return (rng.standard_normal((n, p)) * np.geomspace(3, 0.01, p)) @ rng.standard_normal((p, p)) / np.sqrt(p)


def _time(fn, repeats: int = 3) -> tuple[float, float]:
    best, value = float("inf"), float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    a = _layer(rng, 10_000, 512)
    b = 0.7 * a @ np.linalg.qr(rng.standard_normal((512, 512)))[0] + _layer(rng, 10_000, 512)
    conv = np.maximum(rng.standard_normal((1000, 64, 8, 8)), 0) * np.geomspace(2, 0.05, 64)[None, :, None, None]
    conv_b = conv + 0.3 * rng.standard_normal(conv.shape)
    cases = {"dense 10000 x 512": (a, b),
             "conv positions 1000 img x 64 ch x 8x8 = 64000 x 64": (as_samples(conv, "positions"),
                                                                    as_samples(conv_b, "positions"))}
    print(f"SVCCA (keep 99% of the variance), {args.threads} threads, best of 3")
    ok = True
    for name, (x, y) in cases.items():
        t_ref, v_ref = _time(lambda: reference_svcca(x, y))
        t_new, r = _time(lambda: svcca(x, y))
        diff = abs(r.similarity - v_ref)
        ok &= diff <= 1e-8
        print(f"  {name}: textbook {t_ref:7.3f} s, pruneinterp {t_new:7.3f} s, ratio {t_ref / t_new:5.1f}x; "
              f"similarity {r.similarity:.6f} (dims {r.dims_a}/{r.dims_b}), |difference| {diff:.1e} "
              f"{'OK' if diff <= 1e-8 else 'MISMATCH'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
