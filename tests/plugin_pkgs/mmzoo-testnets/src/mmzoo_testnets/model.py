"""A temporal conv net over whole sequences, in three variants (see __init__)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmzoo_testnets import TCNConfig


class ConvBlock(nn.Module):
    """x[B, C, T] -> relu(bn(conv(x))) + x, the conv reading `dilation` steps back
    (left padding: causal) or both ways (`leaky`: position t sees t + dilation)."""

    def __init__(self, n: int, dilation: int, leaky: bool) -> None:
        super().__init__()
        self.pad = (dilation, dilation) if leaky else (dilation, 0)
        self.conv = nn.Conv1d(n, n, kernel_size=3 if leaky else 2, dilation=dilation)
        self.bn = nn.BatchNorm1d(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.relu(self.bn(self.conv(F.pad(x, self.pad))))  # [B, C, T]


class LinearBlock(nn.Module):
    """x[B, C, T] -> the same with the two taps as one Linear over [x_t, x_{t-d}]."""

    def __init__(self, n: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.proj = nn.Linear(2 * n, n)
        self.bn = nn.BatchNorm1d(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        past = F.pad(x, (self.dilation, 0))[:, :, : x.shape[2]]  # [B, C, T], shifted right
        h = self.proj(torch.cat([x, past], 1).transpose(1, 2))  # [B, T, C]
        return x + F.relu(self.bn(h.transpose(1, 2)))  # BatchNorm1d wants [B, C, T]


class TCN(nn.Module):
    """Embeddings -> blocks -> Linear head; forward(idx[B, T]) -> logits[B, T, V]."""

    def __init__(self, config: TCNConfig, vocab_size: int, block: str) -> None:
        super().__init__()
        self.context_length = config.context
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.inp = nn.Conv1d(config.n_embd, config.n_hidden, kernel_size=1)
        make = {
            "conv": lambda d: ConvBlock(config.n_hidden, d, leaky=False),
            "leaky": lambda d: ConvBlock(config.n_hidden, d, leaky=True),
            "linear": lambda d: LinearBlock(config.n_hidden, d),
        }[block]
        self.blocks = nn.ModuleList(make(d) for d in config.dilations)
        self.head = nn.Linear(config.n_hidden, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.inp(self.wte(idx).transpose(1, 2))  # [B, H, T]
        for block in self.blocks:
            x = block(x)
        return self.head(x.transpose(1, 2))  # [B, T, V]
