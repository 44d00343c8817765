"""``pruneinterp <stage>``: every workflow stage as a command that works outside Snakemake.

On bad input a command prints one line ``pruneinterp <stage>: error: ...`` naming the file or option,
exits with status 2, and leaves no output file.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any, NoReturn, Sequence

import torch

from .activations import ExtractConfig
from .dissection import UPSAMPLE, Bootstrap, DissectConfig, GroundTruthConfig
from .mis import MISConfig
from .pruning import METHODS, PruneConfig
from .retraining import STRATEGIES, FinetuneConfig
from .similarity import METHODS as SIMILARITY_METHODS
from .similarity import SimilarityConfig
from .stages import DataConfig


WORKERS_HELP = "DataLoader worker processes reading the batches (default 0: this process; same results)"


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


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (with a pointer to --help), not the usage block."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pruneinterp", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    sub = p.add_subparsers(dest="stage", required=True)

    data = DataConfig()
    s = sub.add_parser("make-data", help="generate the shapes dataset: train.npz, val.npz, probe/ with probe_stats.csv")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--n-train", type=int, default=data.n_train)
    s.add_argument("--n-val", type=int, default=data.n_val)
    s.add_argument("--n-probe", type=int, default=data.n_probe)
    s.add_argument("--seed", type=int, default=data.seed)
    s.add_argument("--spec", type=_json, default={}, help='generator options as JSON, e.g. \'{"size": 32}\'')
    s.add_argument("--force", action="store_true",
                   help="write into an existing directory that pruneinterp did not generate (default: refuse)")

    s = sub.add_parser("make-probe", help="generate a Broden-format probe set of shapes, with probe_stats.csv")
    s.add_argument("--out", required=True)
    s.add_argument("--n", type=int, default=data.n_probe)
    s.add_argument("--seed", type=int, default=data.seed)
    s.add_argument("--spec", type=_json, default={})
    s.add_argument("--force", action="store_true",
                   help="replace an existing directory that pruneinterp did not generate (default: refuse)")

    s = sub.add_parser("convert-cifar", help="CIFAR-10/100 in torchvision's files -> train.npz, val.npz")
    s.add_argument("--root", required=True, help="the directory holding cifar-10-batches-py/ or cifar-100-python/")
    s.add_argument("--variant", choices=["cifar10", "cifar100"], default="cifar10")
    s.add_argument("--out", required=True, help="directory for train.npz (training batches) and val.npz (test batch)")

    s = sub.add_parser("train", help="train a dense model (init, rewind, final checkpoints, metrics)")
    s.add_argument("--train", required=True, help="train.npz")
    s.add_argument("--val", required=True, help="val.npz")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--model", default="convnet")
    s.add_argument("--model-kwargs", type=_json, default={})
    s.add_argument("--train-config", type=_json, default={}, help="TrainConfig fields as JSON (default: its defaults)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--rewind-iteration", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--workers", type=int, default=0, help=WORKERS_HELP)

    s = sub.add_parser("prune", help="next level's mask from a trained checkpoint")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True)
    prune = PruneConfig()
    s.add_argument("--method", default=prune.method, choices=sorted(METHODS))
    s.add_argument("--seed", type=int, default=0, help="for the random_* methods")
    s.add_argument("--fraction", type=_fraction, default=prune.fraction,
                   help="of the remaining prunable weights (one-shot from a dense checkpoint: the target)")
    s.add_argument("--include", nargs="*", default=None, help="prunable layers (default: all conv/linear)")
    s.add_argument("--exclude", nargs="*", default=None)
    s.add_argument("--layer-scale", type=_json, default={},
                   help='per-layer factor on the fraction as JSON, e.g. \'{"fc": 0.5}\'')
    s.add_argument("--level", type=int, default=None, help="level recorded (default: checkpoint's level + 1)")

    s = sub.add_parser("retrain", help="recover a pruned network: rewind, fine-tune, re-init, random sparse init, "
                                       "or none (evaluate)")
    s.add_argument("--pruned", required=True, help="pruned.pt written by prune")
    s.add_argument("--strategy", default="rewind", choices=list(STRATEGIES))
    s.add_argument("--rewind", default=None, help="rewind.pt of the dense run (strategy rewind)")
    s.add_argument("--train", required=True)
    s.add_argument("--val", required=True)
    s.add_argument("--out-dir", required=True)
    s.add_argument("--train-config", type=_json, default={}, help="TrainConfig fields of the dense run as JSON")
    s.add_argument("--finetune", type=_json, default=asdict(FinetuneConfig()),
                   help="fine-tuning settings as JSON (strategies finetune_sgd/finetune_adam); given keys replace "
                        "the defaults")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--workers", type=int, default=0, help=WORKERS_HELP)

    s = sub.add_parser("extract", help="activations of a checkpoint on a probe set -> HDF5")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--layer", action="append", required=True, help="layer name; repeat for several")
    s.add_argument("--device", default="cpu")
    s.add_argument("--batch-size", type=int, default=ExtractConfig().batch_size)
    s.add_argument("--n-images", type=int, default=None, help="only the first N probe images")
    s.add_argument("--similarity-samples", action="store_true",
                   help="keep only what the similarity stage compares: each layer's (image, position) samples")
    s.add_argument("--conv", choices=["positions", "mean"], default="positions", help="with --similarity-samples")
    s.add_argument("--max-samples", type=int, default=20000, help="with --similarity-samples (0: all positions)")
    s.add_argument("--seed", type=int, default=0, help="with --similarity-samples: seed of the sampled rows")

    s = sub.add_parser("dissect", help="network dissection of an activations file")
    s.add_argument("--activations", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--layer", action="append", default=None)
    dissect, boot = DissectConfig(), Bootstrap()
    s.add_argument("--quantile", type=_fraction, default=dissect.quantile,
                   help="top fraction of each unit's activations that forms its mask (T_k = 1 - quantile quantile)")
    s.add_argument("--iou-threshold", type=float, default=dissect.iou_threshold)
    s.add_argument("--upsample", choices=list(UPSAMPLE), default=dissect.upsample,
                   help="bilinear, or fieldmap: anchored at the units' receptive fields (NetDissect's upsampleL)")
    s.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    s.add_argument("--iou-out", default=None, help="also write the full IoU matrices (units x labels) to this HDF5")
    s.add_argument("--bootstrap-out", default=None,
                   help="also write per-replicate counts of a bootstrap over probe images to this CSV")
    s.add_argument("--bootstrap-replicates", type=int, default=boot.replicates)
    s.add_argument("--bootstrap-blocks", type=int, default=boot.blocks, help="images are resampled in this many blocks")
    s.add_argument("--bootstrap-seed", type=int, default=boot.seed)
    s.add_argument("--budget", type=int, default=dissect.budget,
                   help="activation values held at once per buffer (bounds memory)")

    s = sub.add_parser("similarity", help="SVCCA / PWCCA / linear CKA between the layers of two activation files")
    s.add_argument("--a", required=True, help="activations HDF5 (Contract 2)")
    s.add_argument("--b", required=True, help="activations HDF5 of the same probe images in the same order")
    s.add_argument("--out", required=True, help="CSV: layer_a,layer_b,method,similarity,dims_a,dims_b,n_samples")
    sim = SimilarityConfig()
    s.add_argument("--method", action="append", choices=list(SIMILARITY_METHODS), default=None,
                   help=f"repeat for several (default: {', '.join(sim.methods)})")
    s.add_argument("--layer", action="append", default=None, help="compare this layer with itself; repeat")
    s.add_argument("--pair", action="append", default=None, metavar="LAYER_A:LAYER_B",
                   help="compare layer_a of --a with layer_b of --b; repeat")
    s.add_argument("--keep", type=float, default=sim.keep, help="SVCCA: fraction of variance kept per side")
    s.add_argument("--pwcca-keep", type=float, default=sim.pwcca_keep, help="PWCCA: fraction of variance kept per side")
    s.add_argument("--dims", type=int, default=sim.dims, help="keep this many directions instead of --keep")
    s.add_argument("--conv", choices=["positions", "mean"], default=sim.conv,
                   help="conv layers: every (image, position) a sample, or spatial means")
    s.add_argument("--max-samples", type=int, default=sim.max_samples, help="random subset of positions (seeded)")
    s.add_argument("--seed", type=int, default=sim.seed)
    s.add_argument("--device", default="cpu", help="where the decompositions run: cpu, cuda or auto")

    s = sub.add_parser("mis", help="Mechanistic Interpretability Score of every unit (machine 2-AFC)")
    s.add_argument("--activations", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True, help="CSV: layer,unit,mis,n_tasks,mis_accuracy,mis_confidence")
    s.add_argument("--layer", action="append", default=None)
    mis = MISConfig()
    s.add_argument("--n-tasks", type=int, default=mis.n_tasks)
    s.add_argument("--k", type=int, default=mis.k, help="explanations per side and task")
    s.add_argument("--alpha", type=float, default=mis.alpha,
                   help="confidence sigmoid(alpha * d), alpha in 1 / (backend similarity) (default: %(default)s)")
    s.add_argument("--query-offset", type=int, default=mis.query_offset,
                   help="queries start this many ranks beyond the last explanation of their side")
    s.add_argument("--softmax-layer", action="append", default=None,
                   help=f"rank this layer's units on softmax outputs; repeat (default: {', '.join(mis.softmax_layers)})")
    s.add_argument("--pooling", choices=["mean", "max"], default=mis.pooling)
    s.add_argument("--seed", type=int, default=mis.seed)
    s.add_argument("--backend", default="concepts", help="the observer: concepts (offline, the probe's annotations), features (offline pixel statistics), dreamsim, lpips")
    s.add_argument("--weights", default=None, help="local weights for dreamsim / lpips")
    s.add_argument("--device", default="cpu", help="cpu, cuda or auto: where dreamsim / lpips run")
    s.add_argument("--class-accuracy-out", default=None, help="also write per-class top-1 accuracy on the probe")
    s.add_argument("--tasks-out", default=None,
                   help="also write every task: CSV layer,unit,task,side,role,image,rank (image = probe row)")

    s = sub.add_parser("summary", help="the verdict page: each paper's claims against a run's study tables")
    s.add_argument("--results", default="results", help="the results directory (default: results)")
    s.add_argument("--md", default=None, help="markdown output (default: RESULTS/summary.md)")
    s.add_argument("--html", default=None, help="HTML output (default: RESULTS/summary.html)")
    s.add_argument("--readme", default=None,
                   help="also paste the markdown into this README between its verdict markers")

    s = sub.add_parser("info", help="what a checkpoint, pruned network, activations file or table is")
    s.add_argument("file", nargs="+")

    s = sub.add_parser("config-docs", help="write the configuration reference (docs/config.md) from the schema")
    s.add_argument("--out", default=None, help="default: docs/config.md of this checkout")

    s = sub.add_parser("ground-truth", help="validate dissection on planted units (exact concept detectors + noise)")
    s.add_argument("--probe", required=True)
    s.add_argument("--out", required=True, help="CSV: planted vs found label per unit")
    gt = GroundTruthConfig()
    s.add_argument("--label", action="append", required=True, help="probe label to plant a detector of; repeat")
    s.add_argument("--noise-units", type=int, default=gt.noise_units)
    s.add_argument("--quantile", type=_fraction, default=dissect.quantile)
    s.add_argument("--iou-threshold", type=float, default=dissect.iou_threshold)
    s.add_argument("--downsample", type=int, default=gt.downsample)
    s.add_argument("--seed", type=int, default=gt.seed)
    s.add_argument("--activations-out", default=None, help="also write the planted layer (Contract 2 HDF5)")
    return p


def run(args: argparse.Namespace) -> None:
    from . import stages

    if args.stage == "make-data":
        stages.make_data(out_dir=args.out, n_train=args.n_train, n_val=args.n_val, n_probe=args.n_probe,
                         seed=args.seed, spec=args.spec, force=args.force)
    elif args.stage == "make-probe":
        stages.make_probe(out_dir=args.out, n=args.n, seed=args.seed, spec=args.spec, force=args.force)
    elif args.stage == "convert-cifar":
        from .data.cifar import write_splits

        write_splits(root=args.root, variant=args.variant, train_out=f"{args.out}/train.npz",
                     val_out=f"{args.out}/val.npz")
    elif args.stage == "train":
        out = {k: f"{args.out_dir}/{k}.pt" for k in ("init", "rewind", "checkpoint")}
        out["metrics"] = f"{args.out_dir}/metrics.csv"
        stages.train_dense(train_path=args.train, val_path=args.val, out=out, model=args.model,
                           model_kwargs=args.model_kwargs, train_cfg=args.train_config, seed=args.seed,
                           rewind_iteration=args.rewind_iteration, device=args.device, workers=args.workers)
    elif args.stage == "prune":
        stages.prune(checkpoint=args.checkpoint, out=args.out, method=args.method, fraction=args.fraction,
                     include=args.include, exclude=args.exclude, seed=args.seed, layer_scale=args.layer_scale,
                     level=args.level)
    elif args.stage == "retrain":
        out = {"checkpoint": f"{args.out_dir}/checkpoint.pt", "metrics": f"{args.out_dir}/metrics.csv"}
        ident = {"study": "cli", "method": "cli", "schedule": "cli", "retrain": args.strategy}
        stages.retrain(pruned_path=args.pruned, train_path=args.train, val_path=args.val, out=out,
                       strategy=args.strategy, train_cfg=args.train_config, seed=args.seed, ident=ident,
                       rewind_path=args.rewind, finetune=args.finetune, device=args.device, workers=args.workers)
    elif args.stage == "extract":
        from .activations import extract, extract_samples

        if args.similarity_samples:
            extract_samples(checkpoint=args.checkpoint, probe_dir=args.probe, out=args.out, layers=args.layer,
                            batch_size=args.batch_size, device=args.device, n_images=args.n_images, conv=args.conv,
                            max_samples=args.max_samples or None, seed=args.seed)
        else:
            extract(checkpoint=args.checkpoint, probe_dir=args.probe, out=args.out, layers=args.layer,
                    batch_size=args.batch_size, device=args.device, n_images=args.n_images)
    elif args.stage == "dissect":
        cfg = DissectConfig(quantile=args.quantile, iou_threshold=args.iou_threshold, budget=args.budget,
                            upsample=args.upsample,
                            bootstrap=Bootstrap(args.bootstrap_replicates, args.bootstrap_blocks, args.bootstrap_seed))
        stages.dissect(activations=args.activations, probe_dir=args.probe, out=args.out, cfg=cfg, layers=args.layer,
                       device=args.device, iou_out=args.iou_out, bootstrap_out=args.bootstrap_out)
    elif args.stage == "similarity":
        pairs = None
        if args.pair:
            try:
                pairs = [tuple(p.split(":", 1)) for p in args.pair]
                assert all(len(p) == 2 and all(p) for p in pairs)
            except AssertionError:
                raise ValueError(f"--pair must be LAYER_A:LAYER_B, got {args.pair}") from None
        cfg = SimilarityConfig(methods=tuple(args.method or SimilarityConfig().methods), keep=args.keep,
                               pwcca_keep=args.pwcca_keep, dims=args.dims, conv=args.conv,
                               max_samples=args.max_samples, seed=args.seed)
        stages.similarity(a_path=args.a, b_path=args.b, out=args.out, cfg=cfg, layers=args.layer, pairs=pairs,
                          device=args.device)
    elif args.stage == "mis":
        cfg = MISConfig(n_tasks=args.n_tasks, k=args.k, alpha=args.alpha, query_offset=args.query_offset,
                        pooling=args.pooling, seed=args.seed,
                        softmax_layers=tuple(args.softmax_layer) if args.softmax_layer else MISConfig().softmax_layers)
        stages.mis(activations=args.activations, probe_dir=args.probe, out=args.out, cfg=cfg, layers=args.layer,
                   backend=args.backend, weights=args.weights, class_accuracy_out=args.class_accuracy_out,
                   tasks_out=args.tasks_out, device=args.device)
    elif args.stage == "summary":
        from . import verdicts

        md = args.md or f"{args.results}/summary.md"
        items = verdicts.write(args.results, md, args.html or f"{args.results}/summary.html")
        if args.readme:
            verdicts.update_readme(args.readme, verdicts.markdown(items, root=args.results))
        print(f"{len(items)} claims: " + ", ".join(f"{v} {sum(c.verdict == v for c in items)}"
                                                 for v in (verdicts.AGREE, verdicts.DISAGREE, verdicts.CANNOT)))
    elif args.stage == "info":
        from .info import describe

        for i, path in enumerate(args.file):
            print(("\n" if i else "") + "\n".join(describe(path)))
    elif args.stage == "config-docs":
        from . import configdoc

        print(configdoc.write(args.out or configdoc.DOC))
    elif args.stage == "ground-truth":
        from .dissection import ground_truth

        cfg = GroundTruthConfig(labels=tuple(args.label), noise_units=args.noise_units, downsample=args.downsample,
                                seed=args.seed)
        ground_truth(probe_dir=args.probe, out=args.out, cfg=cfg, quantile=args.quantile,
                     iou_threshold=args.iou_threshold, activations_out=args.activations_out)


def main(argv: Sequence[str] | None = None) -> int:
    from .io import InputError, exit_on_sigterm, one_line

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad option (2, already reported in one line)
        return int(exc.code or 0)
    exit_on_sigterm()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.stage in ("train", "retrain"):  # under torchrun: one process per GPU (or CPU share)
        from .training import init_distributed

        init_distributed(getattr(args, "device", "cpu"))
    try:
        run(args)
    except (InputError, ValueError, KeyError, OSError) as exc:
        print(f"pruneinterp {args.stage}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0



if __name__ == "__main__":
    sys.exit(main())
