"""Building blocks shared by the models, and the base class of window models.
Public to plugin authors as `mmzoo.nn`.

The model contract (docs/plugins.md, mmzoo.contract): forward(idx[B, T]) ->
logits[B, T, V], position t predicting token t+1; `context_length` says how many
tokens it reads; `input_mode` says how it trains and exports.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmzoo.contract import WINDOW
from mmzoo.errors import MmzooError


class WindowModel(nn.Module):
    """A model that sees only the last `context_length` tokens (bigram, MLPs, WaveNet).

    Subclasses implement next_logits(ctx[B, C]) -> [B, V]; forward slides it over
    a whole sequence. Training and export call next_logits on windows directly.
    """

    input_mode = WINDOW
    context_length: int

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        C = self.context_length
        padded = F.pad(idx, (C - 1, 0), value=0)  # [B, T + C - 1]
        ctx = padded.unfold(1, C, 1).reshape(B * T, C)  # [B*T, C]
        return self.next_logits(ctx).view(B, T, -1)  # [B, T, V]


class BatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last dimension, statistics over all the others: for 2-D
    input [N, C] as usual, and for 3-D input [B, T, C] over dims 0 and 1 (the fix
    makemore part 5 makes to its own BatchNorm1d). [B, T, C] is run as [B*T, C]:
    the same statistics, without the transposes to torch's [B, C, T] layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            B, T, C = x.shape
            return super().forward(x.reshape(B * T, C)).view(B, T, C)
        return super().forward(x)


class GroupNorm(nn.GroupNorm):
    """GroupNorm over the last dimension, like BatchNorm above: the channels are split
    into groups and each example is normalised within each group. No batch statistics,
    so training and sampling compute the same thing and export has nothing to fold."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # [B, T, C]: each position by itself, like LayerNorm, not pooled over T
            B, T, C = x.shape
            return super().forward(x.reshape(B * T, C)).view(B, T, C)
        return super().forward(x)


NORMS = ("batch", "layer", "group", "none")


def make_norm(kind: str, features: int, groups: int) -> nn.Module | None:
    """The normalisation after each hidden Linear (makemore part 3's BatchNorm, or the
    alternatives the lecture points to); None for `none`."""
    if kind == "batch":
        return BatchNorm(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind == "group":
        if groups < 1 or features % groups:
            raise MmzooError(f"norm_groups must divide the layer width {features}, got {groups}")
        return GroupNorm(groups, features)
    if kind == "none":
        return None
    raise MmzooError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


TANH_GAIN = 5 / 3


def kaiming_(linear: nn.Linear, gain: float = TANH_GAIN) -> None:
    """The lecture's init: weight std = gain / sqrt(fan_in)."""
    with torch.no_grad():
        linear.weight.normal_(0.0, gain / linear.in_features**0.5)
        if linear.bias is not None:
            linear.bias.zero_()


def scale_head_(head: nn.Linear, scale: float) -> None:
    """The lecture's small last layer: logits near 0 at init, so the first loss is
    about -log(1/V) instead of a confident, wrong guess."""
    with torch.no_grad():
        head.weight.mul_(scale)
        if head.bias is not None:
            head.bias.zero_()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_length(T: int, block_size: int) -> None:
    """A clear error instead of an index error deep inside, when a corpus has longer items."""
    if T > block_size:
        raise MmzooError(
            f"a sequence of {T} tokens is longer than block_size {block_size}; train with --set block_size={T}"
        )
