"""makemore's causal bag of words: attention with all weights equal.

Position t sees the plain average of the (token + position) embeddings at 0..t,
then a residual tanh MLP, then the head. The average is a running sum divided by
a count, so one-token-at-a-time sampling only carries that sum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from mmzoo.contract import STEP, StateSpec
from mmzoo.models.blocks import check_length

if TYPE_CHECKING:
    from mmzoo.models.bow import BoWConfig


class BoW(nn.Module):
    input_mode = STEP

    def __init__(self, config: BoWConfig, vocab_size: int) -> None:
        super().__init__()
        self.context_length = config.block_size
        self.n_embd = config.n_embd
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.c_fc = nn.Linear(config.n_embd, config.n_hidden)
        self.c_proj = nn.Linear(config.n_hidden, config.n_embd)
        self.head = nn.Linear(config.n_embd, vocab_size)

    def block(self, x: torch.Tensor, avg: torch.Tensor) -> torch.Tensor:
        """The residual block after the average: x + avg, then x + MLP(x)."""
        x = x + avg
        return x + self.c_proj(torch.tanh(self.c_fc(x)))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        check_length(T, self.context_length)
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)  # [B, T, n_embd]
        # makemore's softmax over equal (masked) scores is this causal mean
        count = torch.arange(1, T + 1, device=idx.device, dtype=x.dtype)[:, None]  # [T, 1]
        avg = x.cumsum(dim=1) / count  # [B, T, n_embd]
        return self.head(self.block(x, avg))  # [B, T, V]

    def step(self, idx: torch.Tensor, pos: torch.Tensor, total: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx[B], pos (scalar), total[B, n_embd] = sum of the embeddings before pos."""
        x = self.wte(idx) + self.wpe(pos)  # [B, n_embd]
        total = torch.where(pos == 0, torch.zeros_like(total), total) + x
        avg = total / (pos + 1).to(x.dtype)
        return self.head(self.block(x, avg)), total

    def onnx_state(self, batch: int) -> list[StateSpec]:
        return [StateSpec("total", torch.zeros(batch, self.n_embd))]
