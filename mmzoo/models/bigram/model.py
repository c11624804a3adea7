"""makemore part 1: the bigram, as a count table and as a one-layer network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from mmzoo.models.blocks import WindowModel

if TYPE_CHECKING:
    from mmzoo.models.bigram import BigramConfig, BigramNNConfig


# add-k values tried on val when the config leaves smoothing to the data (< 0). Add-1 suits
# 27 characters and many items; with hundreds of characters it flattens every row (4,601
# names in 8 scripts: val 3.73 at add-1, 2.83 at 0.01).
SMOOTHING_GRID = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001)


class BigramCounts(WindowModel):
    """log P(next | current) from add-k smoothed counts; fitted by counting."""

    context_length = 1

    def __init__(self, config: BigramConfig, vocab_size: int) -> None:
        super().__init__()
        self.smoothing = config.smoothing
        # a parameter (not a buffer) so that export and checkpoints treat it like any weight
        self.log_probs = nn.Parameter(torch.zeros(vocab_size, vocab_size), requires_grad=False)

    def fit(self, x: torch.Tensor, y: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
        """Count, then smooth by add-k: the config's k, or (k < 0) the grid's best on `val`
        (milliseconds: one gather over val per k), or add-1 without val. Returns k."""
        V = self.log_probs.shape[0]
        counts = torch.bincount(x[:, -1] * V + y, minlength=V * V).view(V, V).double()
        k = self.smoothing
        if k < 0:
            k = 1.0 if val is None or len(val[1]) == 0 else min(SMOOTHING_GRID, key=lambda k: val_loss(counts, k, *val))
        self.smoothing = k
        probs = (counts + k) / (counts.sum(1, keepdim=True) + k * V)
        self.log_probs.data.copy_(probs.log().float())
        return k

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        return self.log_probs[ctx[:, -1]]  # [B, V]


def val_loss(counts: torch.Tensor, k: float, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean NLL of the (x[:, -1], y) pairs under add-k counts, without a V x V temporary."""
    prev = x[:, -1]
    rows = counts.sum(1)
    return -(torch.log(counts[prev, y] + k) - torch.log(rows[prev] + k * counts.shape[0])).mean().item()


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
