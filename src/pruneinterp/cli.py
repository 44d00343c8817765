"""``pruneinterp <stage>``: every workflow stage as a command that works outside Snakemake.

On bad input a command prints one line ``pruneinterp <stage>: error: ...`` naming the file or option,
exits with status 2, and leaves no output file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

import torch

from .pruning import METHODS
from .stages import RETRAIN_STRATEGIES


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pruneinterp", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    sub = p.add_subparsers(dest="stage", required=True)

    s = sub.add_parser("make-data", help="generate the shapes dataset: train.npz, val.npz, probe/")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--n-train", type=int, default=8000)
    s.add_argument("--n-val", type=int, default=1000)
    s.add_argument("--n-probe", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--spec", type=_json, default={}, help='generator options as JSON, e.g. \'{"size": 32}\'')

    s = sub.add_parser("make-probe", help="generate a Broden-format probe set of shapes")
    s.add_argument("--out", required=True)
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--spec", type=_json, default={})

    s = sub.add_parser("train", help="train a dense model (init, rewind, final checkpoints, metrics)")
    s.add_argument("--train", required=True, help="train.npz")
    s.add_argument("--val", required=True, help="val.npz")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--model", default="convnet")
    s.add_argument("--model-kwargs", type=_json, default={})
    s.add_argument("--train-config", type=_json, default={}, help="TrainConfig fields as JSON")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--rewind-iteration", type=int, default=0)
    s.add_argument("--device", default="cpu")

    s = sub.add_parser("prune", help="next level's mask from a trained checkpoint")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--method", default="magnitude_global", choices=sorted(METHODS))
    s.add_argument("--seed", type=int, default=0, help="for the random_* methods")
    s.add_argument("--fraction", type=_fraction, default=0.2,
                   help="of the remaining prunable weights (one-shot from a dense checkpoint: the target)")
    s.add_argument("--include", nargs="*", default=None, help="prunable layers (default: all conv/linear)")
    s.add_argument("--exclude", nargs="*", default=None)
    s.add_argument("--layer-scale", type=_json, default={},
                   help='per-layer factor on the fraction as JSON, e.g. \'{"fc": 0.5}\'')
    s.add_argument("--level", type=int, default=None, help="level recorded (default: checkpoint's level + 1)")

    s = sub.add_parser("retrain", help="recover a pruned network: rewind, fine-tune, re-init, random sparse init, "
                                       "or none (evaluate)")
    s.add_argument("--mask", required=True, help="mask.pt written by prune")
    s.add_argument("--strategy", default="rewind", choices=list(RETRAIN_STRATEGIES))
    s.add_argument("--rewind", default=None, help="rewind.pt of the dense run (strategy rewind)")
    s.add_argument("--train", required=True)
    s.add_argument("--val", required=True)
    s.add_argument("--out-dir", required=True)
    s.add_argument("--train-config", type=_json, default={}, help="TrainConfig fields of the dense run as JSON")
    s.add_argument("--finetune", type=_json, default={"epochs": 4, "sgd": {"lr": 0.01, "momentum": 0.9, "gamma": 0.9},
                                                      "adam": {"lr": 0.001, "gamma": 0.9}},
                   help="fine-tuning settings as JSON (strategies finetune_sgd/finetune_adam)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")

    s = sub.add_parser("extract", help="activations of a checkpoint on a probe set -> HDF5")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--layer", action="append", required=True, help="layer name; repeat for several")
    s.add_argument("--device", default="cpu")
    s.add_argument("--n-images", type=int, default=None, help="only the first N probe images")

    s = sub.add_parser("dissect", help="network dissection of an activations file")
    s.add_argument("--activations", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--layer", action="append", default=None)
    s.add_argument("--quantile", type=_fraction, default=0.005,
                   help="top fraction of each unit's activations that forms its mask (T_k = 1 - quantile quantile)")
    s.add_argument("--iou-threshold", type=float, default=0.04)
    s.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    s.add_argument("--iou-out", default=None, help="also write the full IoU matrices (units x labels) to this HDF5")
    s.add_argument("--bootstrap-out", default=None,
                   help="also write per-replicate counts of a bootstrap over probe images to this CSV")
    s.add_argument("--bootstrap-replicates", type=int, default=200)
    s.add_argument("--bootstrap-blocks", type=int, default=1000, help="images are resampled in this many blocks")
    s.add_argument("--bootstrap-seed", type=int, default=0)
    s.add_argument("--budget", type=int, default=None,
                   help="activation values held at once per buffer (bounds memory; default 4194304)")

    s = sub.add_parser("similarity", help="SVCCA / PWCCA / linear CKA between the layers of two activation files")
    s.add_argument("--a", required=True, help="activations HDF5 (Contract 2)")
    s.add_argument("--b", required=True, help="activations HDF5 of the same probe images in the same order")
    s.add_argument("--out", required=True, help="CSV: layer_a,layer_b,method,similarity,dims_a,dims_b,n_samples")
    s.add_argument("--method", action="append", choices=["svcca", "pwcca", "cka"], default=None,
                   help="repeat for several (default: svcca)")
    s.add_argument("--layer", action="append", default=None, help="compare this layer with itself; repeat")
    s.add_argument("--pair", action="append", default=None, metavar="LAYER_A:LAYER_B",
                   help="compare layer_a of --a with layer_b of --b; repeat")
    s.add_argument("--keep", type=float, default=0.99, help="SVCCA: fraction of variance kept per side")
    s.add_argument("--pwcca-keep", type=float, default=1.0, help="PWCCA: fraction of variance kept per side")
    s.add_argument("--dims", type=int, default=None, help="keep this many directions instead of --keep")
    s.add_argument("--conv", choices=["positions", "mean"], default="positions",
                   help="conv layers: every (image, position) a sample, or spatial means")
    s.add_argument("--max-samples", type=int, default=20000, help="random subset of positions (seeded)")
    s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("mis", help="Mechanistic Interpretability Score of every unit (machine 2-AFC)")
    s.add_argument("--activations", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True, help="CSV: layer,unit,mis,n_tasks")
    s.add_argument("--layer", action="append", default=None)
    s.add_argument("--n-tasks", type=int, default=20)
    s.add_argument("--k", type=int, default=9, help="explanations per side and task")
    s.add_argument("--alpha", type=float, default=None, help="score sigmoid(alpha * d); default: 0/1 correctness")
    s.add_argument("--pooling", choices=["mean", "max"], default="mean")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--backend", default="features", help="image similarity: features (offline), dreamsim, lpips")
    s.add_argument("--weights", default=None, help="local weights for dreamsim / lpips")
    s.add_argument("--class-accuracy-out", default=None, help="also write per-class top-1 accuracy on the probe")

    s = sub.add_parser("ground-truth", help="validate dissection on planted units (exact concept detectors + noise)")
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True, help="CSV: planted vs found label per unit")
    s.add_argument("--label", action="append", required=True, help="probe label to plant a detector of; repeat")
    s.add_argument("--noise-units", type=int, default=2)
    s.add_argument("--quantile", type=_fraction, default=0.005)
    s.add_argument("--iou-threshold", type=float, default=0.04)
    s.add_argument("--downsample", type=int, default=2)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--activations-out", default=None, help="also write the planted layer (Contract 2 HDF5)")
    return p


def run(args: argparse.Namespace) -> None:
    from . import stages

    if args.stage == "make-data":
        stages.make_data(args.out, args.n_train, args.n_val, args.n_probe, args.seed, args.spec)
    elif args.stage == "make-probe":
        stages.make_probe(args.out, args.n, args.seed, args.spec)
    elif args.stage == "train":
        out = {k: f"{args.out_dir}/{k}.pt" for k in ("init", "rewind", "checkpoint")}
        out["metrics"] = f"{args.out_dir}/metrics.csv"
        stages.train_dense(args.train, args.val, out, args.model, args.model_kwargs, args.train_config, args.seed,
                           args.rewind_iteration, args.device)
    elif args.stage == "prune":
        stages.prune(args.checkpoint, args.out, args.method, args.fraction, args.include, args.exclude, args.seed,
                     args.layer_scale, args.level)
    elif args.stage == "retrain":
        out = {"checkpoint": f"{args.out_dir}/checkpoint.pt", "metrics": f"{args.out_dir}/metrics.csv"}
        ident = {"study": "cli", "method": "cli", "schedule": "cli", "retrain": args.strategy}
        stages.retrain(args.mask, args.train, args.val, out, args.strategy, args.train_config, args.seed, ident,
                       args.rewind, args.finetune, args.device)
    elif args.stage == "extract":
        from .activations import extract

        extract(args.checkpoint, args.probe, args.out, args.layer, device=args.device, n_images=args.n_images)
    elif args.stage == "dissect":
        boot = ({"replicates": args.bootstrap_replicates, "blocks": args.bootstrap_blocks, "seed": args.bootstrap_seed}
                if args.bootstrap_out else None)
        stages.dissect(args.activations, args.probe, args.out, args.layer, args.quantile, args.iou_threshold,
                       args.device, args.iou_out, args.bootstrap_out, boot, args.budget)
    elif args.stage == "similarity":
        pairs = None
        if args.pair:
            try:
                pairs = [tuple(p.split(":", 1)) for p in args.pair]
                assert all(len(p) == 2 and all(p) for p in pairs)
            except AssertionError:
                raise ValueError(f"--pair must be LAYER_A:LAYER_B, got {args.pair}") from None
        stages.similarity(args.a, args.b, args.out, args.layer, args.method or ["svcca"], args.keep, args.dims,
                          args.conv, args.max_samples, args.seed, pairs, args.pwcca_keep)
    elif args.stage == "mis":
        stages.mis(args.activations, args.probe, args.out, args.layer,
                   {"n_tasks": args.n_tasks, "k": args.k, "alpha": args.alpha, "pooling": args.pooling,
                    "seed": args.seed}, args.backend, args.weights, args.class_accuracy_out)
    elif args.stage == "ground-truth":
        stages.ground_truth(args.probe, args.out, args.label, args.noise_units, args.quantile, args.iou_threshold,
                            args.seed, args.downsample, args.activations_out)


def main(argv: Sequence[str] | None = None) -> int:
    from .io import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        run(args)
    except (InputError, ValueError, KeyError, FileNotFoundError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"pruneinterp {args.stage}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
