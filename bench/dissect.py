"""Network dissection: the project's implementation against the straightforward reference.

    python bench/dissect.py                  # 1k and 4k probe images, 64 units at 8x8 (conv4 of the default)
    python bench/dissect.py --sizes 1000 --units 32

For each probe size N a shapes probe is generated in a temporary directory and a layer of
activations (ReLU of Gaussian noise, N x units x hw x hw, stored chunked in HDF5 like Contract 2) is
written. Then:

* speed (N = the first size): ``pruneinterp.dissection.dissect_layer`` vs
  ``reference_dissect_layer`` (loop over images and units, upsample one map, threshold, count -- as
  NetDissect-Lite does), both with the probe's labels decoded beforehand so that only the dissection
  is timed; the maximum |IoU difference| must be <= 1e-6, and the speed ratio is printed;
* memory (every N, each in a fresh process): RSS before and peak RSS during dissection of the
  layer straight from the HDF5 file, labels read from the PNGs chunk by chunk (the workflow's path).
  The working set is a chunk; what still grows a little with N under glibc's defaults is heap
  fragmentation (its mmap threshold adapts upwards after large frees, so later chunk-sized buffers
  land on the heap), which is why the run is repeated with a fixed ``MALLOC_MMAP_THRESHOLD_``.

Ratios, not absolute times, are the point: both sides run in the same process on the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch


def make_inputs(root: Path, n: int, units: int, hw: int, seed: int = 0) -> tuple[Path, Path]:
    from pruneinterp.data.broden import write_shapes_probe
    from pruneinterp.data.shapes import ShapesSpec

    probe = root / f"probe{n}"
    write_shapes_probe(probe, n, seed, ShapesSpec())
    acts = np.maximum(np.random.default_rng(seed).standard_normal((n, units, hw, hw), dtype=np.float32), 0)
    path = root / f"acts{n}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("image_index", data=np.arange(n, dtype=np.int64))
        f.create_dataset("layers/conv", data=acts, chunks=(min(250, n), units, hw, hw))
    return probe, path


def rss_child(probe: str, acts: str) -> None:
    """Runs in a fresh process: prints JSON with the RSS just before dissection and the peak RSS
    during it (sampled every 2 ms by a thread), in MiB."""
    import threading

    import psutil

    from pruneinterp.data.broden import Probe
    from pruneinterp.dissection import dissect_layer

    proc = psutil.Process()
    p = Probe(probe)
    before = proc.memory_info().rss / 2**20
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss / 2**20)
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    with h5py.File(acts, "r") as f:
        start = time.perf_counter()
        dissect_layer(f["layers/conv"], p, f["image_index"][:])
        seconds = time.perf_counter() - start
    done.set()
    thread.join()
    print(json.dumps({"before_mib": before, "peak_mib": peak[0], "seconds": seconds}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--hw", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rss-child", nargs=2, metavar=("PROBE", "ACTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_child:
        rss_child(*args.rss_child)
        return

    from pruneinterp.data.broden import Probe
    from pruneinterp.dissection import dissect_layer, reference_dissect_layer

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs = {n: make_inputs(root, n, args.units, args.hw) for n in args.sizes}
        n = args.sizes[0]
        probe_dir, acts_path = inputs[n]
        probe = Probe(probe_dir, cache_labels=True)
        probe.label_entries(np.arange(n))  # decode every label once, for both implementations
        with h5py.File(acts_path, "r") as f:
            acts = f["layers/conv"][:]
        index = np.arange(n)
        dissect_layer(acts[:8], probe, index[:8])  # warm-up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fast = dissect_layer(acts, probe, index)
            times.append(time.perf_counter() - start)
        t_fast = min(times)
        start = time.perf_counter()
        ref = reference_dissect_layer(acts, probe, index, thresholds=fast.thresholds)
        t_ref = time.perf_counter() - start
        exact = np.quantile(acts.transpose(1, 0, 2, 3).reshape(args.units, -1).astype(np.float64), 0.995, axis=1)
        diff = float(np.abs(fast.iou - ref).max())
        print(f"dissection of {n} images x {args.units} units ({args.hw}x{args.hw} -> 16x16), "
              f"{len(probe.labels)} labels, {args.threads} threads")
        print(f"  threshold max |T - numpy.quantile (float64)|: {np.abs(fast.thresholds - exact).max():.2e}")
        print(f"  reference (per image, per unit): {t_ref:8.3f} s")
        print(f"  pruneinterp (chunked, sparse):   {t_fast:8.3f} s   (best of 3)")
        print(f"  speed ratio: {t_ref / t_fast:.1f}x   max |IoU difference|: {diff:.1e}"
              f"   {'OK' if diff <= 1e-6 else 'MISMATCH'}")
        print("memory, dissecting straight from HDF5 with labels read chunk by chunk (fresh process each):")
        for label, env in (("glibc defaults", {}), ("MALLOC_MMAP_THRESHOLD_=1 MiB", {"MALLOC_MMAP_THRESHOLD_": "1048576"})):
            print(f" {label}:")
            for size in args.sizes:
                p, a = inputs[size]
                out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--rss-child", str(p),
                                      str(a)], capture_output=True, text=True, check=True, env={**os.environ, **env})
                r = json.loads(out.stdout.strip().splitlines()[-1])
                raw = size * args.units * args.hw * args.hw * 4 / 2**20
                print(f"  N={size:5d}: RSS before {r['before_mib']:6.1f} MiB, peak during dissection "
                      f"{r['peak_mib']:6.1f} MiB (+{r['peak_mib'] - r['before_mib']:5.1f}); the layer is "
                      f"{raw:.0f} MiB raw, {4 * raw:.0f} MiB upsampled; {r['seconds']:.2f} s")
        if diff > 1e-6:
            sys.exit(1)


if __name__ == "__main__":
    main()
