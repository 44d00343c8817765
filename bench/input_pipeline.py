"""Input pipeline alone: images/s of training batches read from an ImageFolder of JPEGs at 224 px.

    python bench/input_pipeline.py                 # 384 JPEGs of 256-400 px, batches of 32

A fixture of JPEGs (random 8x8 blocks plus noise, quality 90, each side drawn from 256-400 px) is
written to a temporary ImageFolder tree and indexed at 224 px; every row reads all of it as
training batches of uint8 (32, 224, 224, 3) and does nothing else with them (no training). Rows:

* ``serial, old``: the training loop before the DataLoader indexed ``ImageFolderImages`` in the
  training process: PIL decode, PIL resize of the shorter side, centre crop, one image after the
  other (the code of commit e42db07, copied below);
* ``serial``: the same indexing with today's decoding (``decoder``: torchvision.io for JPEGs, or
  PIL), still in the calling process;
* ``DataLoader w=0/1/2``: the training pipeline (``pruneinterp.data.loader.Loader``, the batches of
  an epoch in the training order) with 0, 1 or 2 worker processes;
* ``... imagenet``: the same with ``train.augment: imagenet`` (RandomResizedCrop(224) of the whole
  decoded image + flip).

The rows take turns (round robin: one epoch of each per round, a warm-up round first: workers
started, files in the page cache), and each row's best round counts, so a burst of other work on a
shared machine slows one round of every row rather than all rounds of some rows; all in this one
run. The speed-ups are against ``serial, old``.
The main process runs one torch thread (as a training job does); each worker runs one. Results:
a table on stdout and ``bench/results/input_pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pruneinterp.data.imagefolder import ImageFolderImages, index_imagefolder, load_index
from pruneinterp.data.loader import Loader, training_batches


def old_load_image(path: str, size: int) -> np.ndarray:
    """``load_image`` of commit e42db07: PIL decode, PIL resize (shorter side), centre crop."""
    from torchvision.transforms import functional as TF

    img = Image.open(path).convert("RGB")
    return np.asarray(TF.center_crop(TF.resize(img, size), [size, size]))


def write_fixture(root: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = (int(v) for v in rng.integers(256, 401, 2))
        base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        img = np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w].astype(np.int16)
        img = np.clip(img + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.jpg", quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "input_pipeline.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    bs, steps = args.batch_size, args.images // args.batch_size
    used = steps * bs  # images read per epoch (the last partial batch is dropped)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        write_fixture(Path(tmp) / "train", args.images)
        index_imagefolder(Path(tmp) / "train", Path(tmp) / "train.csv", size=args.size)
        images, targets = load_index(Path(tmp) / "train.csv")

        def serial(load):
            def epoch(e: int) -> None:
                order = torch.randperm(len(images), generator=torch.Generator().manual_seed(e))
                for b in range(steps):
                    rows_ = order[b * bs:(b + 1) * bs].tolist()
                    torch.from_numpy(np.stack([load(i) for i in rows_]))
            return epoch

        def pipeline(loader):
            def epoch(e: int) -> None:
                for _ in loader.read(training_batches(len(images), bs, 0, e)):
                    pass
            return epoch

        pipelines = {"serial, old (PIL, e42db07)": serial(lambda i: old_load_image(images.paths[i], args.size))}
        for decoder in ("pil", "torchvision"):
            folder = ImageFolderImages(images.paths, args.size, decoder)
            pipelines[f"serial ({decoder})"] = serial(lambda i, folder=folder: folder[i].numpy())
        loaders = []
        for augment in ("none", "imagenet"):
            for decoder in ("pil", "torchvision"):
                folder = ImageFolderImages(images.paths, args.size, decoder)
                for workers in (0, 1, 2):
                    loaders.append(Loader({"train": (folder, targets)}, 0, augment, workers=workers))
                    name = f"DataLoader w={workers} ({decoder}){' imagenet' if augment != 'none' else ''}"
                    pipelines[name] = pipeline(loaders[-1])
        print(f"{used} JPEGs of 256-400 px -> {args.size} px, batches of {bs}; every pipeline reads one epoch per "
              f"round, {args.repeats} rounds after a warm-up round, best round; {os.cpu_count()} CPUs, 1 torch "
              f"thread per process", flush=True)
        best = {name: float("inf") for name in pipelines}
        for round_ in range(args.repeats + 1):  # round 0: workers started, page cache, lazy imports
            for name, epoch in pipelines.items():
                start = time.perf_counter()
                epoch(round_)
                if round_:
                    best[name] = min(best[name], time.perf_counter() - start)
        for loader in loaders:
            loader.close()
    base = best["serial, old (PIL, e42db07)"]
    print(f"  {'pipeline':<36} {'img/s':>7}  vs serial, old")
    for name, t in best.items():
        rows.append({"pipeline": name, "images_per_s": used / t, "speedup_vs_old_serial": base / t})
        print(f"  {name:<36} {used / t:7.0f}  {base / t:5.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"images": used, "batch_size": bs, "size": args.size, "repeats": args.repeats,
                               "cpus": os.cpu_count(), "torch": torch.__version__, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
