"""Retraining strategies: how a pruned network is recovered (a registry, like ``pruning.METHODS``
and open_lth's branches).

A strategy says where training starts -- which weights, which mask, which settings, from which
iteration -- and :func:`pruneinterp.stages.retrain` runs it with the mask enforced throughout. The
registry also tells the workflow which settings a strategy depends on (``trains``, ``optimizer``),
so that e.g. a new fine-tuning learning rate reruns only the fine-tuned runs; the config schema's
``retrain`` values and the CLI's ``--strategy`` choices are its keys.

To add a strategy: write its start function and register it in :data:`STRATEGIES` (plus a test).

This module is imported by the workflow's planning code (``workflow/rules/common.smk``), which runs
in every job: it imports torch only inside the start functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from torch import nn

    from .training import TrainConfig


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning (von Rad & Seuffert): from the pruned weights, ``epochs`` epochs with the
    optimiser's settings and ``lr * gamma ** epoch``; settings not given here are the dense run's."""

    epochs: int = 4
    sgd: dict[str, float] = field(default_factory=lambda: {"lr": 0.01, "momentum": 0.9, "gamma": 0.9,
                                                           "weight_decay": 0.0005})
    adam: dict[str, float] = field(default_factory=lambda: {"lr": 0.001, "gamma": 0.9, "weight_decay": 0.0})

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "FinetuneConfig":
        """Settings given per optimiser replace the defaults key by key (as the config schema does)."""
        d = dict(d or {})
        default = cls()
        unknown = set(d) - {"epochs", "sgd", "adam"}
        if unknown:
            raise ValueError(f"finetune: unknown settings {sorted(unknown)}; allowed: epochs, sgd, adam")
        return cls(epochs=d.get("epochs", default.epochs), sgd={**default.sgd, **d.get("sgd", {})},
                   adam={**default.adam, **d.get("adam", {})})


@dataclass(frozen=True)
class Context:
    """What a strategy starts from: the pruned network (the checkpoint written by ``prune``), the
    dense run's training settings, the fine-tuning settings, the run's seed and, for rewinding,
    the dense run's rewind checkpoint."""

    pruned: dict[str, Any]
    train: dict[str, Any]
    finetune: FinetuneConfig
    seed: int
    rewind_path: str | None = None

    @property
    def level(self) -> int:
        return int(self.pruned["level"])

    def model(self) -> "nn.Module":
        from .models import build_model

        return build_model(self.pruned["model"], **self.pruned["model_kwargs"])

    def pruned_model(self) -> "nn.Module":
        net = self.model()
        net.load_state_dict(self.pruned["state_dict"])
        return net

    def dense_config(self) -> "TrainConfig":
        from .training import TrainConfig

        return TrainConfig(**self.train)


@dataclass
class Start:
    """Where training starts: the network, its mask, the settings and the first global iteration;
    ``sparsity`` when the strategy changed the mask (else the pruned network's)."""

    net: "nn.Module"
    masks: dict[str, Any]
    cfg: "TrainConfig"
    iteration: int = 0
    sparsity: dict[str, Any] | None = None


def _rewind(ctx: Context) -> Start:
    """Surviving weights reset to the dense run's at iteration k, then the rest of the dense
    schedule from k on (lottery ticket; Frankle & Bau)."""
    from .io import load_checkpoint

    if ctx.rewind_path is None:
        raise ValueError("retrain strategy rewind needs the rewind checkpoint (--rewind)")
    rewind = load_checkpoint(ctx.rewind_path)
    net = ctx.model()
    net.load_state_dict(rewind["state_dict"])
    return Start(net, ctx.pruned["masks"], ctx.dense_config(), int(rewind["iteration"]))


def _finetune(optimizer: str) -> Callable[[Context], Start]:
    def start(ctx: Context) -> Start:
        """Continue from the pruned weights for ``finetune.epochs`` with this optimiser and an
        exponentially decaying lr; epoch 0 = the pruned network (von Rad & Seuffert)."""
        from .training import TrainConfig

        settings = getattr(ctx.finetune, optimizer)
        cfg = TrainConfig(**{**ctx.train, "epochs": ctx.finetune.epochs, "warmup_iterations": 0,
                             "schedule": "exponential", "optimizer": optimizer, **settings})
        return Start(ctx.pruned_model(), ctx.pruned["masks"], cfg)

    return start


def _fresh(ctx: Context, strategy: str) -> "nn.Module":
    import torch

    from .pruning import derive_seed

    torch.manual_seed(derive_seed(ctx.seed, strategy, ctx.level))
    return ctx.model()


def _reinit(ctx: Context) -> Start:
    """Fresh random weights (``derive_seed(seed, "reinit", level)``), the same mask, the dense
    schedule from iteration 0 (Blakeney et al.'s post-pruning re-initialisation)."""
    return Start(_fresh(ctx, "reinit"), ctx.pruned["masks"], ctx.dense_config())


def _random_reinit(ctx: Context) -> Start:
    """A random mask with the same per-layer counts (of weights, or of whole channels for
    structured/connection masks), fresh weights, the dense schedule (Blakeney et al.'s random
    sparse initialisation)."""
    from .pruning import STRUCTURE_DIM, derive_seed, random_mask_like, select_layers, sparsity

    net = _fresh(ctx, "random_reinit")
    layers = select_layers(net, ctx.pruned.get("prunable_layers"))
    masks = random_mask_like(ctx.pruned["masks"], net, layers, derive_seed(ctx.seed, "random_mask", ctx.level),
                             STRUCTURE_DIM.get(ctx.pruned.get("method", "")))
    return Start(net, masks, ctx.dense_config(), sparsity=sparsity(net, masks, layers).as_dict())


def _none(ctx: Context) -> Start:
    """The pruned network as it is, evaluated (epoch 0)."""
    return Start(ctx.pruned_model(), ctx.pruned["masks"], ctx.dense_config())


@dataclass(frozen=True)
class Strategy:
    name: str
    start: Callable[[Context], Start]
    trains: bool = True  # False: the pruned network is only evaluated
    optimizer: str | None = None  # fine-tuning with finetune.<optimizer>; None: the dense run's settings
    needs_rewind: bool = False  # reads the dense run's rewind checkpoint

    @property
    def summary(self) -> str:
        return " ".join((self.start.__doc__ or "").split())


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("rewind", _rewind, needs_rewind=True),
    Strategy("finetune_sgd", _finetune("sgd"), optimizer="sgd"),
    Strategy("finetune_adam", _finetune("adam"), optimizer="adam"),
    Strategy("reinit", _reinit),
    Strategy("random_reinit", _random_reinit),
    Strategy("none", _none, trains=False),
)}


def get(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"unknown retrain strategy {name!r}; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
