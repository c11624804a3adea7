"""makemore's recurrent models: a cell applied left to right, carrying a hidden state.

Training runs the cell over whole sequences (forward); sampling and export run one
token per call (step), carrying the hidden state between calls. Both share the cell's
weights. Over a sequence (scan) the cell splits W [x, h] into W_x x + W_h h: the x
half for every step is one big matmul before the loop, so the loop, which runs one
small step at a time, only does the h half (gru: 3 matmuls of [B, E+H] -> 2 of [B, H]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmzoo.checks import MAX_CONTEXT
from mmzoo.contract import STEP, StateSpec
from mmzoo.models.blocks import check_length

if TYPE_CHECKING:
    from mmzoo.models.rnn import RNNConfig


class RNNCell(nn.Module):
    """Mikolov et al. 2010: h_t = tanh(W [x_t, h_{t-1}] + b)."""

    def __init__(self, n_embd: int, n_hidden: int) -> None:
        super().__init__()
        self.xh_to_h = nn.Linear(n_embd + n_hidden, n_hidden)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([x, h], dim=1)  # [B, n_embd + n_hidden]
        return torch.tanh(self.xh_to_h(xh))  # [B, n_hidden]

    def scan(self, emb: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """emb[B, T, n_embd], h[B, n_hidden] -> every step's h [B, T, n_hidden]; same maths as forward."""
        E, W = emb.shape[-1], self.xh_to_h.weight  # W [n_hidden, n_embd + n_hidden]
        xw = F.linear(emb.transpose(0, 1), W[:, :E], self.xh_to_h.bias)  # [T, B, n_hidden]
        w_h = W[:, E:].t()  # [n_hidden, n_hidden]
        hs = []
        for x_t in xw.unbind(0):  # unbind, not xw[t]: each xw[t]'s backward would zero-fill all of xw
            h = torch.tanh(torch.addmm(x_t, h, w_h))  # x_t + h @ w_h in one kernel
            hs.append(h)
        return torch.stack(hs, dim=1)


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

    def scan(self, emb: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """emb[B, T, n_embd], h[B, n_hidden] -> every step's h [B, T, n_hidden]; same maths as forward."""
        E = emb.shape[-1]
        layers = (self.xh_to_z, self.xh_to_r, self.xh_to_hbar)
        w_x = torch.cat([layer.weight[:, :E] for layer in layers])  # [3 * n_hidden, n_embd]
        bias = torch.cat([layer.bias for layer in layers])
        xw = F.linear(emb.transpose(0, 1), w_x, bias)  # [T, B, 3 * n_hidden]: z, r, hbar
        H = xw.shape[-1] // 3
        xzr, xhbar = xw.split([2 * H, H], dim=-1)  # split's backward is one cat; slicing's zero-fills xw twice
        w_zr = torch.cat([self.xh_to_z.weight[:, E:], self.xh_to_r.weight[:, E:]]).t()  # [n_hidden, 2 * n_hidden]
        w_hbar = self.xh_to_hbar.weight[:, E:].t()  # [n_hidden, n_hidden]
        hs = []
        # six kernels a step: the loop's cost is per op, not per flop. unbind, not xzr[t]: each
        # indexed slice's backward would zero-fill a tensor as large as xw and add into it.
        for xzr_t, xhbar_t in zip(xzr.unbind(0), xhbar.unbind(0)):
            z, r = torch.sigmoid(torch.addmm(xzr_t, h, w_zr)).chunk(2, dim=1)  # both gates at once
            hbar = torch.tanh(torch.addmm(xhbar_t, r * h, w_hbar))
            h = torch.lerp(h, hbar, z)  # (1 - z) * h + z * hbar
            hs.append(h)
        return torch.stack(hs, dim=1)


CELLS: dict[str, type[RNNCell] | type[GRUCell]] = {"rnn": RNNCell, "gru": GRUCell}


class RNN(nn.Module):
    """Embedding -> cell over the sequence (from a learned start state) -> linear head."""

    input_mode = STEP

    def __init__(self, config: RNNConfig, vocab_size: int, cell: str = "rnn") -> None:
        super().__init__()
        # block_size 0: no limit. The context is then the most a file may declare, so
        # sampling never crops (docs/onnx.md); > 0 (runs from before) checks and crops as it did.
        self.block_size = config.block_size
        self.context_length = config.block_size if config.block_size > 0 else MAX_CONTEXT
        self.n_hidden = config.n_hidden
        self.start = nn.Parameter(torch.zeros(1, config.n_hidden))  # h_{-1}, learned
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.cell: RNNCell | GRUCell = CELLS[cell](config.n_embd, config.n_hidden)
        self.head = nn.Linear(config.n_hidden, vocab_size)
        self.drop = nn.Dropout(config.dropout)  # identity in eval mode, so step() never sees it

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        if self.block_size > 0:
            check_length(T, self.block_size)
        emb = self.drop(self.wte(idx))  # [B, T, n_embd]
        h = self.start.expand(B, -1)  # [B, n_hidden]
        hs = self.cell.scan(emb, h)  # [B, T, n_hidden]
        return self.head(self.drop(hs))  # [B, T, V]

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
