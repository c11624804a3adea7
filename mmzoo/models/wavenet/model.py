"""makemore part 5: the WaveNet-style hierarchical MLP (van den Oord et al. 2016).

Instead of squashing all 8 characters into one layer, fuse them two at a time:
8 embeddings -> 4 pairs -> 2 pairs of pairs -> 1, each level a Linear, BatchNorm, Tanh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from mmzoo.errors import MmzooError
from mmzoo.models.blocks import WindowModel, kaiming_, make_norm, scale_head_

if TYPE_CHECKING:
    from mmzoo.models.wavenet import WaveNetConfig


class FlattenConsecutive(nn.Module):
    """[B, T, C] -> [B, T // n, C * n]: concatenate each run of n neighbours."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.reshape(B, T // self.n, C * self.n)


class WaveNet(WindowModel):
    """Embeddings, then log2(block_size) levels of FlattenConsecutive(2) -> Linear (no
    bias: BatchNorm's shift replaces it) -> BatchNorm -> Tanh, then a linear head.
    BatchNorm sees 3-D activations [B, T, C] and averages over B and T (the lecture's fix).
    The config can swap BatchNorm for LayerNorm, GroupNorm or none, and set the gain
    and the head scale, as for mlp-bn."""

    def __init__(self, config: WaveNetConfig, vocab_size: int) -> None:
        super().__init__()
        levels = config.block_size.bit_length() - 1
        if config.block_size < 2 or 1 << levels != config.block_size:
            raise MmzooError(f"wavenet: block_size must be a power of 2 (>= 2), got {config.block_size}")
        self.context_length = config.block_size
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        layers: list[nn.Module] = []
        fan_in = 2 * config.n_embd
        for _ in range(levels):
            norm = make_norm(config.norm, config.n_hidden, config.norm_groups)
            linear = nn.Linear(fan_in, config.n_hidden, bias=norm is None)
            kaiming_(linear, config.init_gain)
            layers += [FlattenConsecutive(2), linear, *([norm] if norm is not None else []), nn.Tanh()]
            fan_in = 2 * config.n_hidden
        self.levels = nn.Sequential(*layers)
        self.head = nn.Linear(config.n_hidden, vocab_size)
        scale_head_(self.head, config.last_layer_scale)  # a near-uniform first prediction

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        x = self.wte(ctx)  # [B, 8, n_embd]
        x = self.levels(x)  # [B, 4, h] -> [B, 2, h] -> [B, 1, h]
        return self.head(x.squeeze(1))  # [B, V]
