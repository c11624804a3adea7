"""Which module feeds which, found by running the model once with hooks on every
leaf module. Calibration uses it to visit the BatchNorm layers in execution
order; diagnose uses it to find each layer's activations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

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
    """The BatchNorm layers that one forward pass calls, in the order it calls them."""
    seen: dict[str, BatchNormBase] = {}
    for call in trace_leaf_calls(model, run):
        if isinstance(call.module, BatchNormBase) and call.name not in seen:
            seen[call.name] = call.module
    return list(seen.items())


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)
