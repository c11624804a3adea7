"""makemore parts 2 and 3: Bengio et al. 2003's MLP, and the same with BatchNorm."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from mmzoo.models.blocks import WindowModel, kaiming_, make_norm, scale_head_

if TYPE_CHECKING:
    from mmzoo.models.mlp import MLPBNConfig, MLPConfig


class MLP(WindowModel):
    """Embed the last block_size characters, concatenate, one tanh layer, a linear head."""

    def __init__(self, config: MLPConfig, vocab_size: int) -> None:
        super().__init__()
        self.context_length = config.block_size
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.hidden = nn.Linear(config.block_size * config.n_embd, config.n_hidden)
        self.head = nn.Linear(config.n_hidden, vocab_size)
        with torch.no_grad():  # the lecture's fixes for a confident, saturated start
            self.hidden.weight.mul_(0.2)
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        emb = self.wte(ctx)  # [B, C, n_embd]
        h = torch.tanh(self.hidden(emb.flatten(1)))  # [B, n_hidden]
        return self.head(h)  # [B, V]


class MLPBN(WindowModel):
    """Linear (no bias) -> BatchNorm -> Tanh, n_layers times, then a linear head.
    Kaiming init with the tanh gain 5/3; the head scaled by 0.1 so the first loss
    is near -log(1/V). The config swaps BatchNorm for LayerNorm, GroupNorm or
    nothing (then the Linear keeps its bias) and sets the gain and the head scale:
    the knobs of the lecture's experiments."""

    def __init__(self, config: MLPBNConfig, vocab_size: int) -> None:
        super().__init__()
        self.context_length = config.block_size
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        layers: list[nn.Module] = []
        fan_in = config.block_size * config.n_embd
        for _ in range(config.n_layers):
            norm = make_norm(config.norm, config.n_hidden, config.norm_groups)
            linear = nn.Linear(fan_in, config.n_hidden, bias=norm is None)  # a norm's shift replaces the bias
            kaiming_(linear, config.init_gain)
            layers += [linear, *([norm] if norm is not None else []), nn.Tanh()]
            fan_in = config.n_hidden
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(fan_in, vocab_size)
        scale_head_(self.head, config.last_layer_scale)

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        emb = self.wte(ctx)  # [B, C, n_embd]
        h = self.blocks(emb.flatten(1))  # [B, n_hidden]
        return self.head(h)  # [B, V]
