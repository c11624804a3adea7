"""makemore part 1: the bigram, as a count table and as a one-layer network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from mmzoo.models.blocks import WindowModel

if TYPE_CHECKING:
    from mmzoo.models.bigram import BigramConfig, BigramNNConfig


class BigramCounts(WindowModel):
    """log P(next | current) from add-k smoothed counts; fitted by counting."""

    context_length = 1

    def __init__(self, config: BigramConfig, vocab_size: int) -> None:
        super().__init__()
        self.smoothing = config.smoothing
        # a parameter (not a buffer) so that export and checkpoints treat it like any weight
        self.log_probs = nn.Parameter(torch.zeros(vocab_size, vocab_size), requires_grad=False)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        V = self.log_probs.shape[0]
        counts = torch.bincount(x[:, -1] * V + y, minlength=V * V).view(V, V).double()
        counts += self.smoothing
        probs = counts / counts.sum(1, keepdim=True)
        self.log_probs.data.copy_(probs.log().float())

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        return self.log_probs[ctx[:, -1]]  # [B, V]


class BigramNN(WindowModel):
    """The neural bigram: one-hot(x) @ W is the row W[x]; trained with an L2 penalty."""

    context_length = 1

    def __init__(self, config: BigramNNConfig, vocab_size: int) -> None:
        super().__init__()
        self.l2 = config.l2
        self.W = nn.Parameter(torch.randn(vocab_size, vocab_size) * 0.01)

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        return self.W[ctx[:, -1]]  # [B, V]

    def regularization(self) -> torch.Tensor:
        return self.l2 * (self.W**2).mean()
