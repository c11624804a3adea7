"""Fold every BatchNorm into the Linear before it, so the exported graph has none.

Generic: a forward pass with hooks on every leaf module finds, for each BatchNorm,
the module whose output it consumes. Plugin models with Linear -> BatchNorm get
folding for free; a BatchNorm fed by anything else is an error naming the layer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from mmzoo.errors import MmzooError

BatchNormBase = nn.modules.batchnorm._BatchNorm


@dataclass
class LeafCall:
    name: str
    module: nn.Module
    inputs: list[int]  # ids of the tensors it consumed
    output: int | None  # id of the tensor it returned


def trace_leaf_calls(model: nn.Module, run: Callable[[nn.Module], object]) -> list[LeafCall]:
    """Every leaf-module call of one forward pass, in execution order."""
    calls: list[LeafCall] = []
    keep_alive: list[object] = []  # so that tensor ids stay unique during the pass

    def hook(name: str) -> Callable:
        def record(module: nn.Module, args: tuple, output: object) -> None:
            keep_alive.extend(args)
            keep_alive.append(output)
            tensors = [id(a) for a in args if torch.is_tensor(a)]
            calls.append(LeafCall(name, module, tensors, id(output) if torch.is_tensor(output) else None))

        return record

    handles = [
        m.register_forward_hook(hook(name)) for name, m in model.named_modules() if not list(m.children()) and name
    ]
    try:
        with torch.no_grad():
            run(model)
    finally:
        for h in handles:
            h.remove()
    return calls


def batchnorms_in_order(model: nn.Module, run: Callable[[nn.Module], object]) -> list[tuple[str, BatchNormBase]]:
    seen: dict[str, BatchNormBase] = {}
    for call in trace_leaf_calls(model, run):
        if isinstance(call.module, BatchNormBase) and call.name not in seen:
            seen[call.name] = call.module
    return list(seen.items())


def foldable_pairs(model: nn.Module, run: Callable[[nn.Module], object]) -> list[tuple[str, str]]:
    """(linear name, batchnorm name) for every BatchNorm; raises if one cannot fold."""
    calls = trace_leaf_calls(model, run)
    producer = {c.output: c for c in calls if c.output is not None}
    consumers: dict[int, set[str]] = {}
    for c in calls:
        for t in c.inputs:
            consumers.setdefault(t, set()).add(c.name)
    pairs: dict[str, str] = {}
    for c in calls:
        if not isinstance(c.module, BatchNormBase):
            continue
        if not c.module.track_running_stats or c.module.running_mean is None:
            raise MmzooError(f"BatchNorm {c.name} keeps no running statistics: cannot fold it for inference")
        source = producer.get(c.inputs[0]) if c.inputs else None
        if source is None or not isinstance(source.module, nn.Linear):
            before = f"a {type(source.module).__name__} ({source.name})" if source else "no module"
            raise MmzooError(f"BatchNorm {c.name} follows {before}, not a Linear: cannot fold it")
        if consumers.get(c.inputs[0], set()) != {c.name}:
            raise MmzooError(f"Linear {source.name} feeds more than BatchNorm {c.name}: cannot fold it")
        if pairs.get(c.name, source.name) != source.name:
            raise MmzooError(f"BatchNorm {c.name} is used after more than one Linear: cannot fold it")
        pairs[c.name] = source.name
    return [(linear, bn) for bn, linear in pairs.items()]


@torch.no_grad()
def fold_into(linear: nn.Linear, bn: BatchNormBase) -> nn.Linear:
    """W' = W * g / sqrt(var + eps) per output feature; b' = (b - mean) * g / sqrt(var + eps) + beta."""
    if bn.num_features != linear.out_features:
        raise MmzooError(f"BatchNorm of {bn.num_features} features after a Linear of {linear.out_features}")
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = bn.bias.double() if bn.affine else torch.zeros_like(scale)
    bias = linear.bias.double() if linear.bias is not None else torch.zeros_like(scale)
    folded = nn.Linear(linear.in_features, linear.out_features, bias=True)
    folded.weight.copy_((linear.weight.double() * scale[:, None]).float())
    folded.bias.copy_(((bias - bn.running_mean.double()) * scale + shift).float())
    return folded


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def fold_batchnorm(model: nn.Module, run: Callable[[nn.Module], object]) -> tuple[nn.Module, int]:
    """A copy of `model` (eval mode) with every BatchNorm folded away, and how many were."""
    folded = copy.deepcopy(model).eval()
    pairs = foldable_pairs(folded, run)
    for linear_name, bn_name in pairs:
        linear = folded.get_submodule(linear_name)
        bn = folded.get_submodule(bn_name)
        _set_submodule(folded, linear_name, fold_into(linear, bn))
        _set_submodule(folded, bn_name, nn.Identity())
    left = [n for n, m in folded.named_modules() if isinstance(m, BatchNormBase)]
    if left:
        raise MmzooError(f"BatchNorm layers left after folding (never called?): {', '.join(left)}")
    return folded, len(pairs)
