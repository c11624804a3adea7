"""makemore's recurrent models: a cell applied left to right, carrying a hidden state.

Training runs the cell over whole sequences (forward); sampling and export run one
token per call (step), carrying the hidden state between calls. Both share the cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from mmzoo.contract import STEP, StateSpec
from mmzoo.models.blocks import check_length

if TYPE_CHECKING:
    from mmzoo.builtin.rnn import RNNConfig


class RNNCell(nn.Module):
    """Mikolov et al. 2010: h_t = tanh(W [x_t, h_{t-1}] + b)."""

    def __init__(self, n_embd: int, n_hidden: int) -> None:
        super().__init__()
        self.xh_to_h = nn.Linear(n_embd + n_hidden, n_hidden)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([x, h], dim=1)  # [B, n_embd + n_hidden]
        return torch.tanh(self.xh_to_h(xh))  # [B, n_hidden]


class GRUCell(nn.Module):
    """Cho et al. 2014: a reset gate r chooses what of h feeds the candidate,
    an update gate z mixes the candidate into h, so gradients can skip steps."""

    def __init__(self, n_embd: int, n_hidden: int) -> None:
        super().__init__()
        self.xh_to_z = nn.Linear(n_embd + n_hidden, n_hidden)
        self.xh_to_r = nn.Linear(n_embd + n_hidden, n_hidden)
        self.xh_to_hbar = nn.Linear(n_embd + n_hidden, n_hidden)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([x, h], dim=1)  # [B, n_embd + n_hidden]
        r = torch.sigmoid(self.xh_to_r(xh))  # reset gate
        hbar = torch.tanh(self.xh_to_hbar(torch.cat([x, r * h], dim=1)))  # candidate
        z = torch.sigmoid(self.xh_to_z(xh))  # update gate
        return (1 - z) * h + z * hbar  # [B, n_hidden]


CELLS = {"rnn": RNNCell, "gru": GRUCell}


class RNN(nn.Module):
    """Embedding -> cell over the sequence (from a learned start state) -> linear head."""

    input_mode = STEP

    def __init__(self, config: RNNConfig, vocab_size: int, cell: str = "rnn") -> None:
        super().__init__()
        self.context_length = config.block_size
        self.n_hidden = config.n_hidden
        self.start = nn.Parameter(torch.zeros(1, config.n_hidden))  # h_{-1}, learned
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.cell = CELLS[cell](config.n_embd, config.n_hidden)
        self.head = nn.Linear(config.n_hidden, vocab_size)
        self.drop = nn.Dropout(config.dropout)  # identity in eval mode, so step() never sees it

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        check_length(T, self.context_length)
        emb = self.drop(self.wte(idx))  # [B, T, n_embd]
        h = self.start.expand(B, -1)  # [B, n_hidden]
        hs = []
        for t in range(T):
            h = self.cell(emb[:, t], h)
            hs.append(h)
        return self.head(self.drop(torch.stack(hs, dim=1)))  # [B, T, V]

    def step(self, idx: torch.Tensor, pos: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One token: idx[B], pos (scalar), h[B, n_hidden] -> logits[B, V], new h.
        At pos 0 the incoming h is ignored and the learned start state used instead,
        inside the graph, so a caller can start from zeros."""
        h = torch.where(pos == 0, self.start.expand_as(h), h)
        h = self.cell(self.wte(idx), h)  # [B, n_hidden]
        return self.head(h), h

    def onnx_state(self, batch: int) -> list[StateSpec]:
        return [StateSpec("h", torch.zeros(batch, self.n_hidden))]


class GRU(RNN):
    """The same network with a GRU cell."""

    def __init__(self, config: RNNConfig, vocab_size: int) -> None:
        super().__init__(config, vocab_size, cell="gru")
