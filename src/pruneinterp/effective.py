"""Effective sparsity: prunable weights that are masked, or still present but *dead*.

Structured (output-channel) and connection (input-channel) pruning leave weights in place that can
no longer affect the network's output:

* **zero inputs** (forward): a removed output channel of a conv, whose BatchNorm scale and shift are
  masked too, is exactly 0 after the BatchNorm (and after ReLU, pooling, flattening); every weight of
  the next layer that reads that channel multiplies 0.
* **unused outputs** (backward): a channel that no live weight of any later layer reads (e.g. all
  input-channel weights of the next conv that read it are masked) cannot reach the output; the
  weights that produce it are dead.

:func:`dead_weights` finds both on the model's graph, traced with ``torch.fx``, in eval mode (the
BatchNorm running statistics). The rules are conservative, so a weight is only called dead when it
provably cannot change the output for any input:

* a channel is *zero* only when it is exactly 0 for every input: a conv/linear output channel whose
  live weights all read zero channels and whose bias is 0 (or absent); a BatchNorm channel
  ``a * x + b`` (``a = gamma / sqrt(var + eps)``, ``b = beta - mean * a``) with ``b == 0`` and a zero
  input or ``a == 0``. A removed channel whose BatchNorm is *not* masked outputs the constant ``b``,
  which the next layer still uses as a bias: not dead.
* zero and unused channels pass through ReLU-like activations that map 0 to 0, max/average pooling,
  dropout, identity and ``flatten(x, 1)`` (a flattened channel is its ``H * W`` features);
* a residual sum (``add``) is zero in a channel only if every summand is (a channel removed in one
  branch is alive through the skip path), and each summand is unused where the sum is;
* a BatchNorm input channel is unused where its output is, or where ``a == 0`` (its output does not
  depend on the input);
* every other operation (concatenation, multiplication, reshapes other than ``flatten(x, 1)``,
  activations with f(0) != 0 such as sigmoid, ...) is treated as making every channel of its output
  non-zero and every channel of its inputs used.

Only weights of ``nn.Conv2d`` and ``nn.Linear`` modules are counted (the prunable layers); a module
called at several places of the graph is dead only where it is dead at every call.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Masks = dict[str, torch.Tensor]

# modules and functions that map a zero channel to a zero channel and keep channels where they are
_PASS_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Hardtanh, nn.Hardswish,
                 nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout, nn.Dropout2d,
                 nn.Identity)
_PASS_FUNCTIONS = {torch.relu, F.relu, F.relu6, F.gelu, F.silu, torch.tanh, F.max_pool2d, F.avg_pool2d,
                   F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.dropout}
_PASS_METHODS = {"relu", "relu_", "contiguous", "clone"}
_ADD = {operator.add, operator.iadd, torch.add}


@dataclass
class _Channels:
    """What is known of a tensor's channels (dim 1): ``zero[c]`` is exactly 0 for every input;
    ``flat``: the tensor is ``flatten(x, 1)`` of a (N, C, ...) tensor, channel c = a block of features."""

    zero: torch.Tensor
    flat: bool = False


def _weight_mask(masks: Masks, name: str, module: nn.Module) -> torch.Tensor:
    mask = masks.get(f"{name}.weight")
    return torch.ones_like(module.weight, dtype=torch.bool) if mask is None else mask.to(torch.bool).cpu()


def _bias_zero(module: nn.Module, n: int) -> torch.Tensor:
    bias = getattr(module, "bias", None)
    return torch.ones(n, dtype=torch.bool) if bias is None else bias.detach().cpu() == 0


def _bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) of the BatchNorm in eval mode, y = a * x + b per channel; without running statistics
    the batch statistics are used (then a constant channel becomes ``beta``): a = gamma, b = beta."""
    n = bn.num_features
    gamma = bn.weight.detach().cpu() if bn.affine else torch.ones(n)
    beta = bn.bias.detach().cpu() if bn.affine else torch.zeros(n)
    if bn.running_mean is None:
        return gamma.double(), beta.double()
    a = gamma.double() / torch.sqrt(bn.running_var.detach().cpu().double() + bn.eps)
    return a, beta.double() - bn.running_mean.detach().cpu().double() * a


def _input_channel(module: nn.Module) -> torch.Tensor:
    """For a conv weight (out, in / groups, ...): the input channel read by weight [c, j]."""
    out_ch, per_group = module.weight.shape[:2]
    groups = getattr(module, "groups", 1)
    group = torch.arange(out_ch) // (out_ch // groups)
    return group[:, None] * per_group + torch.arange(per_group)[None, :]


def _features(ch: _Channels | None, n: int) -> torch.Tensor | None:
    """Zero flags over the ``n`` input features of a layer reading ``ch`` (a flattened tensor's
    channel c is features c * k .. c * k + k - 1); None where the mapping is unknown."""
    if ch is None:
        return None
    if len(ch.zero) == n:
        return ch.zero
    if ch.flat and n % len(ch.zero) == 0:
        return ch.zero.repeat_interleave(n // len(ch.zero))
    return None


def _to_channels(feature_flags: torch.Tensor, ch: _Channels | None) -> torch.Tensor | None:
    """Per-feature flags of a layer's input, back on the producing tensor's channels (all features
    of a channel)."""
    if ch is None:
        return None
    if len(feature_flags) == len(ch.zero):
        return feature_flags
    if ch.flat and len(feature_flags) % len(ch.zero) == 0:
        return feature_flags.view(len(ch.zero), -1).all(dim=1)
    return None


def dead_weights(model: nn.Module, masks: Masks | None = None) -> dict[str, torch.Tensor]:
    """``{"<module>.weight": bool tensor}`` for every conv and linear module of ``model``: True where
    the weight is not masked but cannot affect the output (module docstring). ``model`` holds the
    weights as trained (masked values zero, BatchNorm statistics); ``masks`` as in checkpoints."""
    import torch.fx

    masks = masks or {}
    gm = torch.fx.symbolic_trace(model)
    modules = dict(gm.named_modules())
    nodes = list(gm.graph.nodes)
    zero: dict[Any, _Channels | None] = {}

    def layer_in(node: Any) -> tuple[Any, _Channels | None]:
        arg = node.args[0] if node.args else None
        return arg, zero.get(arg) if isinstance(arg, torch.fx.Node) else None

    # ---- forward: channels that are exactly zero -------------------------------------------------
    for node in nodes:
        result: _Channels | None = None
        if node.op == "call_module":
            m = modules[node.target]
            _, ch = layer_in(node)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                mask = _weight_mask(masks, node.target, m)
                n_in = m.weight.shape[1] * getattr(m, "groups", 1)
                in_zero = _features(ch, n_in)
                reads_zero = torch.zeros(mask.shape[:2], dtype=torch.bool)
                if in_zero is not None:
                    reads_zero = in_zero[_input_channel(m)] if isinstance(m, nn.Conv2d) else in_zero[None, :].expand(
                        mask.shape[:2])
                live = mask.flatten(2).any(dim=2) if mask.ndim > 2 else mask
                live = live & ~reads_zero
                result = _Channels(~live.any(dim=1) & _bias_zero(m, mask.shape[0]))
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                a, b = _bn_affine(m)
                in_zero = ch.zero if ch is not None and len(ch.zero) == len(a) else torch.zeros(len(a), dtype=torch.bool)
                result = _Channels((b == 0) & (in_zero | (a == 0)))
            elif isinstance(m, _PASS_MODULES):
                result = ch
            elif isinstance(m, nn.Flatten) and m.start_dim == 1 and ch is not None:
                result = _Channels(ch.zero, flat=True)
        elif node.op == "call_function" and node.target in _PASS_FUNCTIONS:
            result = layer_in(node)[1]
        elif node.op == "call_method" and node.target in _PASS_METHODS:
            result = layer_in(node)[1]
        elif _is_flatten(node):
            ch = layer_in(node)[1]
            result = None if ch is None else _Channels(ch.zero, flat=True)
        elif _is_add(node):
            parts = [zero.get(a) for a in node.args]
            if all(p is not None for p in parts) and len({len(p.zero) for p in parts}) == 1 \
                    and len({p.flat for p in parts}) == 1:
                result = _Channels(torch.stack([p.zero for p in parts]).all(dim=0), parts[0].flat)
        zero[node] = result

    # ---- backward: channels that no live weight reads --------------------------------------------
    # unused[node]: per channel of node's output, not needed by any user; None = all used
    need: dict[Any, list[torch.Tensor | None]] = {n: [] for n in nodes}
    dead: dict[str, list[torch.Tensor]] = {}
    for node in reversed(nodes):
        if node.op == "output":
            for arg in node.all_input_nodes:
                need[arg].append(None)
            continue
        flags = need[node]
        unused = None if not flags or any(f is None for f in flags) else torch.stack(flags).all(dim=0)
        if zero.get(node) is not None and unused is not None and len(unused) != len(zero[node].zero):
            unused = None
        inputs = node.all_input_nodes
        given: dict[Any, torch.Tensor | None] = {a: None for a in inputs}
        if node.op == "call_module":
            m = modules[node.target]
            arg, ch = layer_in(node)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                mask = _weight_mask(masks, node.target, m)
                out_ch = mask.shape[0]
                out_unused = unused if unused is not None and len(unused) == out_ch else torch.zeros(
                    out_ch, dtype=torch.bool)
                n_in = m.weight.shape[1] * getattr(m, "groups", 1)
                in_zero = _features(ch, n_in)
                index = _input_channel(m) if isinstance(m, nn.Conv2d) else torch.arange(n_in)[None, :].expand(
                    mask.shape[:2])
                reads_zero = in_zero[index] if in_zero is not None else torch.zeros(mask.shape[:2], dtype=torch.bool)
                pair = reads_zero | out_unused[:, None]  # (out, in) weight groups that cannot matter
                shape = list(pair.shape) + [1] * (mask.ndim - 2)
                dead.setdefault(node.target, []).append(mask & pair.view(shape).expand_as(mask))
                alive_pair = (mask.flatten(2).any(dim=2) if mask.ndim > 2 else mask) & ~out_unused[:, None]
                read = torch.zeros(n_in, dtype=torch.long).index_add_(0, index.flatten(), alive_pair.flatten().long())
                if isinstance(arg, torch.fx.Node):
                    given[arg] = _to_channels(read == 0, ch)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and isinstance(arg, torch.fx.Node):
                a, _ = _bn_affine(m)
                base = unused if unused is not None and len(unused) == len(a) else torch.zeros(len(a), dtype=torch.bool)
                given[arg] = base | (a == 0)
            elif isinstance(m, _PASS_MODULES) or (isinstance(m, nn.Flatten) and zero.get(node) is not None):
                if isinstance(arg, torch.fx.Node):
                    given[arg] = unused
        elif (node.op == "call_function" and node.target in _PASS_FUNCTIONS) or (
                node.op == "call_method" and node.target in _PASS_METHODS) or _is_flatten(node):
            arg = node.args[0]
            if isinstance(arg, torch.fx.Node):
                given[arg] = unused
        elif _is_add(node) and zero.get(node) is not None:
            for arg in node.args:
                given[arg] = unused
        for arg in inputs:
            flag = given.get(arg)
            if flag is not None and zero.get(arg) is not None and len(flag) != len(zero[arg].zero):
                flag = None
            need[arg].append(flag)
    out: dict[str, torch.Tensor] = {}
    for name, m in modules.items():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            per_call = dead.get(name)
            out[f"{name}.weight"] = torch.stack(per_call).all(dim=0) if per_call else torch.zeros_like(
                m.weight, dtype=torch.bool)
    return out


def _is_flatten(node: Any) -> bool:
    if node.op == "call_function" and node.target is torch.flatten:
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    if node.op == "call_method" and node.target == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        return start == 1 and len(node.args) <= 2 and "end_dim" not in node.kwargs
    return False


def _is_add(node: Any) -> bool:
    import torch.fx

    is_add = (node.op == "call_function" and node.target in _ADD) or (
        node.op == "call_method" and node.target in ("add", "add_"))
    return is_add and len(node.args) == 2 and not node.kwargs and all(isinstance(a, torch.fx.Node)
                                                                     for a in node.args)


@dataclass(frozen=True)
class EffectiveSparsity:
    """Per prunable layer (parameter name, total, masked, dead) and the totals; ``fraction`` =
    (masked + dead) / total over the prunable weights."""

    layers: tuple[tuple[str, int, int, int], ...]

    @property
    def total(self) -> int:
        return sum(t for _, t, _, _ in self.layers)

    @property
    def masked(self) -> int:
        return sum(m for _, _, m, _ in self.layers)

    @property
    def dead(self) -> int:
        return sum(d for _, _, _, d in self.layers)

    @property
    def fraction(self) -> float:
        return (self.masked + self.dead) / self.total

    def layer_fraction(self) -> dict[str, float]:
        return {name: (m + d) / t for name, t, m, d in self.layers}


def effective_sparsity(model: nn.Module, masks: Masks | None, layers: dict[str, nn.Module]) -> EffectiveSparsity:
    """Masked and dead weights of the prunable ``layers`` (:func:`pruneinterp.pruning.select_layers`)."""
    masks = masks or {}
    was_training = model.training
    model.eval()
    try:
        dead = dead_weights(model, masks)
    finally:
        model.train(was_training)
    rows = []
    for name, module in layers.items():
        key = f"{name}.weight"
        mask = masks.get(key)
        masked = 0 if mask is None else int((~mask.bool()).sum())
        rows.append((key, module.weight.numel(), masked, int(dead[key].sum()) if key in dead else 0))
    return EffectiveSparsity(tuple(rows))
