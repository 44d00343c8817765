"""Training and evaluation with masks enforced, lottery-ticket rewinding, per-epoch metrics.

The learning rate is a function of the global iteration, so a run rewound to iteration k continues
exactly the dense run's schedule and data order from k on. Schedules: ``cosine`` (linear warm-up,
then cosine decay to 0; dense training, rewinding, re-initialisation) and ``exponential``
(``lr * gamma ** epoch``, i.e. ``torch.optim.lr_scheduler.ExponentialLR`` stepped once per epoch;
fine-tuning as in von Rad & Seuffert). Optimisers: SGD with momentum, or Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.loader import Loader, evaluation_batches, training_batches
from .progress import Progress
from .pruning import Masks, clean_state_dict, masked


PRECISIONS = ("bf16", "fp16", "fp32", "auto")
# torch.compile backends: inductor generates kernels (needs a C compiler on CPU, Triton on GPU);
# aot_eager and eager only capture the graph (no code generation: tests, debugging)
COMPILE_BACKENDS = ("none", "inductor", "aot_eager", "eager")
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 6
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0005
    warmup_iterations: int = 0
    precision: str = "fp32"  # fp32, bf16 / fp16 autocast (fp16 with a GradScaler), or auto (bf16 where native)
    channels_last: bool = True
    eval_batch_size: int = 500
    optimizer: str = "sgd"     # sgd | adam
    schedule: str = "cosine"   # cosine | exponential
    gamma: float = 0.9         # per-epoch decay of the exponential schedule
    augment: str = "none"      # none | cifar | imagenet (pruneinterp.data.augment)
    shift: int = 0             # augmentation none: random crop after zero padding by this many pixels
    flip: bool = False         # augmentation none: random horizontal flip
    compile: str = "none"      # none, or the torch.compile backend of the training forward pass

    def __post_init__(self) -> None:
        from .data.augment import conflict

        if self.shift < 0:
            raise ValueError(f"train.shift must be >= 0; got {self.shift!r}")
        for key, allowed in (("precision", PRECISIONS), ("optimizer", ("sgd", "adam")),
                             ("schedule", ("cosine", "exponential")), ("compile", COMPILE_BACKENDS)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"train.{key} must be one of {', '.join(allowed)}; got {getattr(self, key)!r}")
        problem = conflict(self.augment, self.shift, self.flip)
        if problem:
            raise ValueError(problem)


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (CUDA where present); under ``torchrun`` a CUDA process takes
    the GPU of its ``LOCAL_RANK``."""
    import os

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda requested but no CUDA device is available; allowed here: cpu, auto")
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(device)


def init_distributed(device: str = "cpu") -> bool:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1 in the environment): NCCL
    for CUDA, gloo for CPU. Returns whether this is a distributed run."""
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        cuda = resolve_device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(resolve_device(device))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA GPU that supports it, or a CPU for which
    oneDNN has bf16 kernels (AVX-512 and up; fastest with AVX512-BF16 or AMX). On an AVX2-only CPU
    bf16 autocast is emulated: the default ResNet trained at 93 img/s in bf16 against 1 210 in fp32
    (AMD EPYC, AVX2, one thread)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where the device computes it natively (:func:`native_bf16`), else ``fp32``."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def channels_last_hazard(model: nn.Module, device: torch.device) -> str | None:
    """Why ``model`` must not be trained in channels_last on ``device``, or None.

    torch 2.14.1's CPU backward of a 1x1 convolution with stride > 1 and fewer than 8 input channels
    in channels_last corrupts the heap (``double free or corruption``, then SIGSEGV; measured on an
    AVX2 CPU for 1..7 input channels, not for 8 or more): the downsampling shortcut of a narrow
    ResNet. Such a model trains in the default (contiguous) memory format, batches included (a
    batch made from NHWC images has channels_last strides, which alone takes the crashing kernel),
    which gives the same numbers up to float rounding."""
    if device.type != "cpu":
        return None
    for name, m in model.named_modules():
        if (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1
                and m.in_channels < 8):
            return (f"{name} is a 1x1 convolution with stride {max(m.stride)} and {m.in_channels} input "
                    f"channels, whose channels_last backward crashes on CPU")
    return None


@dataclass
class Normalizer:
    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, images_uint8: np.ndarray) -> "Normalizer":
        """Per-channel mean and standard deviation (population) of ``images_uint8`` scaled to [0, 1],
        from each channel's histogram of the 256 byte values: exact sums, and ~30x faster than
        ``astype(float64).std()`` on 12 000 images (a second of every training job)."""
        x = np.ascontiguousarray(images_uint8).reshape(-1, images_uint8.shape[-1])
        values = np.arange(256, dtype=np.float64) / 255.0
        mean, std = [], []
        for c in range(x.shape[1]):
            counts = np.bincount(x[:, c], minlength=256).astype(np.float64)
            m = float(counts @ values) / len(x)
            mean.append(m)
            std.append(float(np.sqrt(counts @ (values - m) ** 2 / len(x))))
        return cls(mean=mean, std=std)

    def __call__(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        """(n, H, W, C) uint8 -> (n, C, H, W) float32 normalised."""
        x = batch_uint8.permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


def learning_rate(cfg: TrainConfig, iteration: int, total: int, steps_per_epoch: int = 1) -> float:
    if cfg.schedule == "exponential":
        return cfg.lr * cfg.gamma ** (iteration // steps_per_epoch)
    if iteration < cfg.warmup_iterations:
        return cfg.lr * (iteration + 1) / cfg.warmup_iterations
    progress = (iteration - cfg.warmup_iterations) / max(1, total - cfg.warmup_iterations)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _loader(data: dict[str, tuple[Any, torch.Tensor]], cfg: TrainConfig, seed: int, workers: int,
            device: torch.device) -> Loader:
    return Loader(data, seed, cfg.augment, cfg.shift, cfg.flip, workers, device)


def _to_device(x: torch.Tensor, y: torch.Tensor, norm: Normalizer, cfg: TrainConfig,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A uint8 (n, H, W, C) batch normalised on ``device`` in the layout asked for, and its targets."""
    x = norm(x.to(device, non_blocking=True))
    # the normalised batch comes out of an NHWC -> NCHW permute, i.e. channels_last strides: make the
    # layout the one asked for, whichever it is
    x = x.contiguous(memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    return x, y.to(device, non_blocking=True)


def evaluate(model: nn.Module, images: Any, targets: torch.Tensor, norm: Normalizer,
             cfg: TrainConfig, device: torch.device, workers: int = 0) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy) in fp32, read by ``workers`` DataLoader workers."""
    with _loader({"eval": (images, targets)}, cfg, 0, workers, device) as loader:
        return _evaluate(model, loader, "eval", len(images), norm, cfg, device)


@torch.no_grad()
def _evaluate(model: nn.Module, loader: Loader, split: str, n: int, norm: Normalizer, cfg: TrainConfig,
              device: torch.device) -> tuple[float, float]:
    model.eval()
    correct, loss_sum = 0, 0.0
    for xb, yb in loader.read(evaluation_batches(split, n, cfg.eval_batch_size)):
        x, y = _to_device(xb, yb, norm, cfg, device)
        out = model(x).float()
        loss_sum += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
    return correct / n, loss_sum / n


def _evaluate_splits(model: nn.Module, data: dict[str, tuple[Any, torch.Tensor]], loader: Loader, cfg: TrainConfig,
                     norm: Normalizer, device: torch.device, epoch: int, result: "TrainResult") -> None:
    for split, (xs, _) in data.items():
        if split == "train":
            continue
        top1, loss_v = _evaluate(model, loader, split, len(xs), norm, cfg, device)
        result.metrics.append({"epoch": epoch, "split": split, "top1": top1, "loss": loss_v})


@dataclass
class TrainResult:
    metrics: list[dict[str, Any]] = field(default_factory=list)
    captured: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


def train(
    model: nn.Module,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    cfg: TrainConfig,
    seed: int,
    norm: Normalizer,
    masks: Masks | None = None,
    start_iteration: int = 0,
    capture_iterations: tuple[int, ...] = (),
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int, nn.Module], None] | None = None,
    evaluate_before: bool = False,
    resume: str | None = None,
    workers: int = 0,
) -> TrainResult:
    """Train ``model`` in place on ``data['train']``, evaluating on every split after each epoch.

    The run covers global iterations ``start_iteration .. epochs * steps_per_epoch - 1``. Epoch e
    visits the training set in the order of ``randperm`` seeded by (seed, e), whatever the start,
    and augments batch b (``cfg.augment``, ``shift``, ``flip``) seeded by (seed, e, b): batches are
    read through a DataLoader with ``workers`` worker processes (0: in this process), and the
    numbers do not depend on that number (:mod:`pruneinterp.data.loader`).
    ``capture_iterations`` lists iterations t whose state (after t steps; 0 = initial) is returned.
    Masks are enforced for the whole run and the model is returned with them made permanent.
    ``evaluate_before`` adds epoch-0 rows (the held-out splits before any step), e.g. the accuracy
    of a pruned network before fine-tuning.

    ``resume`` names a file where the run's state (weights, optimiser, metrics, captured states) is
    saved after every epoch but the last: a run killed mid-way (a cluster's walltime, a pre-empted
    node) and started again with the same arguments continues from its last finished epoch and ends
    with exactly the weights of an uninterrupted run. A state saved by a run with other arguments is
    ignored; the file is removed when the run completes.
    """
    device = torch.device(device)
    precision = resolve_precision(cfg.precision, device)
    if precision != cfg.precision:
        print(f"precision auto: {precision} on {device.type}", flush=True)
        cfg = replace(cfg, precision=precision)
    hazard = channels_last_hazard(model, device) if cfg.channels_last else None
    if hazard:
        print(f"channels_last off: {hazard}", flush=True)
        cfg = replace(cfg, channels_last=False)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    with masked(model, {k: v.to(device) for k, v in (masks or {}).items()}), \
            _loader(data, cfg, seed, workers, device) as loader:
        result = _train_loop(model, data, loader, cfg, seed, norm, start_iteration, capture_iterations, device,
                             on_epoch, evaluate_before, resume)
        model.to("cpu").to(memory_format=torch.contiguous_format)
    return result


def _train_loop(model: nn.Module, data: dict[str, tuple[Any, torch.Tensor]], loader: Loader, cfg: TrainConfig,
                seed: int, norm: Normalizer, start_iteration: int, capture_iterations: tuple[int, ...],
                device: torch.device, on_epoch: Callable[[int, nn.Module], None] | None, evaluate_before: bool,
                resume: str | None = None) -> TrainResult:
    """The iterations of :func:`train`, on a model already on ``device`` with its masks attached
    (so the optimiser holds the masked parameters' originals)."""
    n = len(data["train"][0])
    steps = n // cfg.batch_size  # drop the last partial batch: fixed steps per epoch
    if steps == 0:
        raise ValueError(f"training set ({n} images) is smaller than train.batch_size ({cfg.batch_size})")
    total = cfg.epochs * steps
    if not 0 <= start_iteration < total:
        raise ValueError(f"start iteration {start_iteration} outside [0, {total})")
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(groups, lr=cfg.lr)
    else:
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    result = TrainResult()
    # fp16: the loss scaled against underflow (torch.amp); disabled, scale() and step() are the plain calls
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    it = start_iteration
    first_epoch = start_iteration // steps
    fingerprint = _fingerprint(model, cfg, seed, start_iteration, n, capture_iterations) if resume else ""
    saved = _load_resume(resume, fingerprint)
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        result.metrics, result.captured = saved["metrics"], saved["captured"]
        it, first_epoch = int(saved["iteration"]), int(saved["epoch"])
        print(f"resuming from epoch {first_epoch} (iteration {it}) saved in {resume}", flush=True)
    elif evaluate_before:
        _evaluate_splits(model, data, loader, cfg, norm, device, 0, result)
    autocast = AUTOCAST.get(cfg.precision)

    def capture() -> None:
        if it in capture_iterations:
            result.captured[it] = clean_state_dict(model)

    if saved is None:
        capture()
    world, rank = _distributed()
    if world > 1 and cfg.batch_size % world:
        raise ValueError(f"train.batch_size {cfg.batch_size} must be a multiple of the {world} processes")
    net = model if world == 1 else nn.parallel.DistributedDataParallel(model)  # gradients averaged over ranks
    if cfg.compile != "none":  # the training forward pass; evaluation runs the model as it is
        net = torch.compile(net, backend=cfg.compile)
    progress = Progress(total - it, "train", unit="it", stream=None if rank == 0 else _Quiet())
    for epoch in range(first_epoch, cfg.epochs):
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        # this rank's share of every batch (rows rank, rank + world, ...), from the rewind point's batch on
        batches = training_batches(n, cfg.batch_size, seed, epoch, it - epoch * steps, world, rank)
        for xb, yb in loader.read(batches):
            x, y = _to_device(xb, yb, norm, cfg, device)
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, it, total, steps)
            with torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
                out = net(x)
                loss = F.cross_entropy(out.float(), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            it += 1
            loss_sum += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
            capture()
            progress.update(1)
        if world > 1:  # the running metrics of the whole batch
            totals = torch.tensor([loss_sum, float(correct), float(seen)], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, correct, seen = float(totals[0]), int(totals[1]), int(totals[2])
        result.metrics.append({"epoch": epoch + 1, "split": "train_running", "top1": correct / seen,
                               "loss": loss_sum / seen})
        _evaluate_splits(model, data, loader, cfg, norm, device, epoch + 1, result)
        held_out = ", ".join(f"{r['split']} top1 {r['top1']:.4f}" for r in result.metrics
                             if r["epoch"] == epoch + 1 and r["split"] != "train_running")
        progress.line(f"epoch {epoch + 1}/{cfg.epochs}: train loss {loss_sum / seen:.4f} top1 {correct / seen:.4f}"
                      + (f", {held_out}" if held_out else ""))
        if resume and epoch + 1 < cfg.epochs and rank == 0:
            _save_resume(resume, {"fingerprint": fingerprint, "model": model.state_dict(),
                                  "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                                  "metrics": result.metrics, "captured": result.captured, "iteration": it,
                                  "epoch": epoch + 1})
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
    progress.close()
    if resume and rank == 0:  # rank 0 alone writes the resume state, and removes it (other ranks raced it)
        import os

        if os.path.exists(resume):
            os.remove(resume)
    return result


def _distributed() -> tuple[int, int]:
    """(world size, rank) of an initialised torch.distributed process group (``torchrun``), else (1, 0).

    With several processes every rank runs the same iterations on its share of each global batch
    (rows rank, rank + world, ...; each image augmented as in the whole batch), DistributedDataParallel
    averages the gradients, so the weights follow one process training on the whole batch (up to
    float rounding) -- except for BatchNorm, whose batch statistics are each rank's (as in any DDP
    run without SyncBatchNorm). Masks are buffers of every rank's model and stay enforced there;
    the held-out splits are evaluated by every rank (the same weights) and only rank 0 writes
    files (here the resume state; the stages write checkpoints from rank 0 only)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class _Quiet:
    """A stream that drops what it is given (progress of ranks other than 0)."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _fingerprint(model: nn.Module, cfg: TrainConfig, seed: int, start_iteration: int, n: int,
                 capture_iterations: tuple[int, ...]) -> str:
    """What a saved state must match to be resumed: the settings, the data size and the starting
    weights (and masks) of the run."""
    import hashlib

    h = hashlib.sha256(repr((sorted(vars(cfg).items()), seed, start_iteration, n, sorted(capture_iterations)))
                       .encode())
    for name, value in model.state_dict().items():
        h.update(name.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _load_resume(path: str | None, fingerprint: str) -> dict[str, Any] | None:
    import os

    if not path or not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a state cut short by the kill: start over
        return None
    return state if isinstance(state, dict) and state.get("fingerprint") == fingerprint else None


def _save_resume(path: str, state: dict[str, Any]) -> None:
    from .io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
