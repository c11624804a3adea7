"""An exponential moving average of the weights (Polyak averaging), kept beside the
live model when a recipe sets `ema` (its decay).

Why: with small batches the weights at any one step are a noisy sample around the
point training is heading to; their running average sits nearer it. On makemore's
names the transformer's average ended 0.003 below its live weights (1.9568
against 1.9601 at 18,000 steps) and reached the live weights' final val about
2,000 steps earlier (docs/performance.md). A run with `ema` evaluates, keeps as
best, saves and exports the average; the live weights go on training.

The average starts late: update n (counting from 1 after the first, which copies
the weights) decays by min(decay, (1 + n) / (10 + n)), so it spans about the last
tenth of the steps so far until the decay's own window (1 / (1 - decay) steps) is
shorter. A plain 0.999 average started at step 1 is two thirds initial weights at
step 400 (0.999^400 = 0.67): a short run reported a model far worse than its live
weights. From step ~9,000 on (at 0.999) the two rules average the same weights.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

Params = tuple[torch.Tensor, ...] | list[torch.Tensor]


class WeightAverage:
    """The average of `model`'s parameters, `decay` per step; buffers (BatchNorm's
    running statistics) are the live model's, copied in before each use."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.live = model
        self.decay = decay
        self.updates = 0  # kept in Python: reading n_averaged back every step would sync a GPU
        self.averaged = AveragedModel(model, multi_avg_fn=self._average, use_buffers=False)

    def update(self) -> None:
        """After each optimizer step (the first call copies the weights)."""
        self.averaged.update_parameters(self.live)
        self.updates += 1

    def decay_at(self, n: int) -> float:
        """The decay of update n (n >= 1 earlier updates): short windows early on."""
        return min(self.decay, (1 + n) / (10 + n))

    def _average(self, averaged: Params, current: Params, _: torch.Tensor | int) -> None:
        get_ema_multi_avg_fn(self.decay_at(self.updates))(averaged, current, None)

    @property
    def model(self) -> nn.Module:
        """The averaged network, with the live model's buffers and train/eval mode."""
        module: nn.Module = self.averaged.module
        with torch.no_grad():
            for mine, live in zip(module.buffers(), self.live.buffers(), strict=True):
                mine.copy_(live)
        module.train(self.live.training)
        return module

    def state_dict(self) -> dict[str, Any]:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.averaged.load_state_dict(state)
        self.updates = int(self.averaged.n_averaged)
