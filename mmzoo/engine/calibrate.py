"""makemore part 3's "calibrate the batch norm at the end of training": set each
BatchNorm's inference statistics from the whole training split, layer by layer in
execution order, each measured with the layers before it already calibrated."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from mmzoo.engine.fold import batchnorms_in_order
from mmzoo.models.blocks import BatchNorm


def _feature_dim(bn: nn.Module, x: torch.Tensor) -> int:
    return -1 if isinstance(bn, BatchNorm) else (1 if x.dim() > 1 else 0)


class _Moments:
    """Running sum and sum of squares per feature of one BatchNorm's input, in float64."""

    def __init__(self) -> None:
        self.total: torch.Tensor | float = 0.0
        self.total_sq: torch.Tensor | float = 0.0
        self.n = 0

    def measure(self, module: nn.Module, args: tuple) -> None:
        x = args[0].double()
        dim = _feature_dim(module, x)
        flat = x.movedim(dim, -1).reshape(-1, x.shape[dim])  # [N, features]
        self.total = self.total + flat.sum(0)
        self.total_sq = self.total_sq + (flat * flat).sum(0)
        self.n += flat.shape[0]

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.total / self.n
        var = (self.total_sq / self.n - mean * mean).clamp_min(0) * self.n / max(self.n - 1, 1)  # unbiased, as torch
        return mean, var


@torch.no_grad()
def calibrate_batchnorm(
    model: nn.Module, run_all: Callable[[nn.Module], None], probe: Callable[[nn.Module], object]
) -> int:
    """run_all(model) pushes the whole training split through the model (in chunks);
    probe(model) is one small forward pass used to find the layers. Returns how many."""
    model.eval()
    layers = batchnorms_in_order(model, probe)
    for _, bn in layers:
        moments = _Moments()
        handle = bn.register_forward_pre_hook(moments.measure)
        try:
            run_all(model)
        finally:
            handle.remove()
        mean, var = moments.mean_var()
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
    return len(layers)
