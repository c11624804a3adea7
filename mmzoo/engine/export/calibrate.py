"""makemore part 3's "calibrate the batch norm at the end of training", done at
export: set each BatchNorm's inference statistics from real training positions,
layer by layer in execution order, each measured with the layers before it
already calibrated; then keep whichever statistics, calibrated or running, give
the lower val loss (unless the user forces one).

Only real positions count, whatever the layout of a layer's input ([N, C],
[B, C, T], [B, T, C], ...): window models see only real windows, and sequence
and step models run on items grouped by length and cut at their end, so no
padded position ever reaches a BatchNorm. A sample of the train split
(CALIBRATION_POSITIONS positions) keeps it to a second or two.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn as nn

from mmzoo.contract import WindowNet, is_window
from mmzoo.engine.data.batches import PAD, SplitTensors
from mmzoo.engine.export.trace import BatchNormBase, batchnorms_in_order
from mmzoo.engine.loss import split_loss
from mmzoo.errors import MmzooError
from mmzoo.models.blocks import BatchNorm

CALIBRATION_POSITIONS = 32768  # enough for per-channel mean and var to ~0.5% of a std
CHUNK_POSITIONS = 8192


@dataclass
class Statistics:
    """Which BatchNorm statistics export kept, and the val loss with each."""

    calibrated: bool  # True: calibrated statistics kept; False: the running ones
    val_running: float
    val_calibrated: float | None  # None: not calibrated (no BatchNorm, or --no-calibrate)
    layers: int

    @property
    def val_loss(self) -> float:
        return self.val_calibrated if self.calibrated and self.val_calibrated is not None else self.val_running


def calibration_batches(model: nn.Module, train: SplitTensors, budget: int = CALIBRATION_POSITIONS) -> list:
    """Inputs covering about `budget` real positions of the train split, drawn at random
    (fixed seed), with no padding: windows, or items of one length per batch."""
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(train), generator=generator)
    if is_window(model):
        rows = train.x[order[:budget]]
        return [rows[i : i + CHUNK_POSITIONS] for i in range(0, rows.shape[0], CHUNK_POSITIONS)]
    lengths = (train.y != PAD).sum(1)[order]  # real positions per item
    take = int((lengths.cumsum(0) < budget).sum()) + 1
    order, lengths = order[:take], lengths[:take]
    batches = []
    for n in sorted(set(lengths.tolist())):
        rows = train.x[order[lengths == n], :n]  # [items, n]: all real
        per = max(1, CHUNK_POSITIONS // max(n, 1))
        batches += [rows[i : i + per] for i in range(0, rows.shape[0], per)]
    return batches


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
        assert isinstance(self.total, torch.Tensor) and isinstance(self.total_sq, torch.Tensor), "nothing measured"
        mean = self.total / self.n
        var = (self.total_sq / self.n - mean * mean).clamp_min(0) * self.n / max(self.n - 1, 1)  # unbiased, as torch
        return mean, var


def _run(model: nn.Module, batches: list) -> None:
    for xb in batches:
        if is_window(model):
            cast(WindowNet, model).next_logits(xb)
        else:
            model(xb)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, batches: list) -> int:
    """Set every BatchNorm's running statistics from `batches`; returns how many layers."""
    model.eval()
    layers = batchnorms_in_order(model, lambda m: _run(m, batches[:1]))
    for _, bn in layers:
        moments = _Moments()
        handle = bn.register_forward_pre_hook(moments.measure)
        try:
            _run(model, batches)
        finally:
            handle.remove()
        mean, var = moments.mean_var()
        assert bn.running_mean is not None and bn.running_var is not None  # checked when the layers were found
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
    return len(layers)


def choose_statistics(model: nn.Module, train: SplitTensors, val: SplitTensors, calibrate: bool | None) -> Statistics:
    """Calibrate a copy and keep the better statistics in `model` (eval mode).
    calibrate: None compares, True forces calibration, False skips it."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, BatchNormBase)]
    for name, bn in layers:
        if not bn.track_running_stats or bn.running_mean is None:
            raise MmzooError(f"BatchNorm {name} keeps no running statistics: it cannot run on one item at a time")
    model.eval()
    val_running = split_loss(model, val.x, val.y)
    if not layers or calibrate is False:
        return Statistics(False, val_running, None, len(layers))
    trial = copy.deepcopy(model)
    calibrate_batchnorm(trial, calibration_batches(trial, train))
    val_calibrated = split_loss(trial, val.x, val.y)
    keep = calibrate is True or val_calibrated < val_running
    if keep:
        model.load_state_dict(trial.state_dict())
    return Statistics(keep, val_running, val_calibrated, len(layers))
