"""The LSTM of Graves, "Generating Sequences With Recurrent Neural Networks" (2014),
sections 2 and 3, at character level:

- LSTM cells with peephole connections: the input and forget gates see the
  previous cell state c[t-1], the output gate sees the new one c[t];
- a stack of `n_layer` layers with skip connections: every layer reads the
  input (the character embedding) as well as the layer below, and the output
  layer reads every layer's hidden state;
- a learned initial state (h0, c0) per layer, where Graves starts from zeros:
  mmzoo's step models apply a learned start state at position 0.

It follows mmzoo's "step" input mode: forward(idx[B, T]) -> logits[B, T, V]
for training, and step(idx[B], pos, h, c) -> (logits[B, V], h, c) for export,
so that onnxruntime samples one character per call without re-reading the
history. Both run the same `_layer_step`, so they agree to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mmzoo import StateSpec
from mmzoo_lstm import LSTMConfig


class LSTM(nn.Module):
    input_mode = "step"
    # A recurrent model reads the whole item: no length limit. context_length is the
    # most an mmzoo file may declare (1 << 16), so a sample is never cropped.
    context_length = 1 << 16

    def __init__(self, config: LSTMConfig, vocab_size: int) -> None:
        super().__init__()
        L, H, E = config.n_layer, config.n_hidden, config.n_embd
        if min(L, H, E) < 1:
            raise ValueError("n_layer, n_hidden and n_embd must be >= 1")
        self.n_layer, self.n_hidden = L, H
        self.wte = nn.Embedding(vocab_size, E)
        # gate pre-activations from the input, for every layer at once (skip connections)
        self.from_input = nn.Linear(E, L * 4 * H)
        self.from_below = nn.ModuleList(nn.Linear(H, 4 * H, bias=False) for _ in range(L - 1))
        self.recurrent = nn.ModuleList(nn.Linear(H, 4 * H, bias=False) for _ in range(L))
        self.peephole = nn.Parameter(torch.zeros(L, 3, H))  # diagonal weights c -> (i, f, o)
        self.h0 = nn.Parameter(torch.zeros(L, H))
        self.c0 = nn.Parameter(torch.zeros(L, H))
        self.head = nn.Linear(L * H, vocab_size)
        with torch.no_grad():
            bias = self.from_input.bias.view(L, 4, H)
            bias.zero_()
            bias[:, 1] = 1.0  # forget gates start open (Gers et al. 2000)
            self.head.weight.mul_(0.1)  # a near-uniform first prediction
            self.head.bias.zero_()

    def _layer_step(
        self, layer: int, x_gates: torch.Tensor, below: torch.Tensor | None, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step of one layer: [B, 4H] input gates, [B, H] states -> new (h, c)."""
        z = x_gates + self.recurrent[layer](h)
        if below is not None:
            z = z + self.from_below[layer - 1](below)
        zi, zf, zg, zo = z.chunk(4, dim=-1)
        w_ci, w_cf, w_co = self.peephole[layer]
        i = torch.sigmoid(zi + w_ci * c)
        f = torch.sigmoid(zf + w_cf * c)
        c = f * c + i * torch.tanh(zg)
        o = torch.sigmoid(zo + w_co * c)
        return o * torch.tanh(c), c

    def _tick(
        self, x_gates: torch.Tensor, h: list[torch.Tensor], c: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Every layer, bottom up, for one time step; x_gates is [B, L, 4H]."""
        new_h: list[torch.Tensor] = []
        new_c: list[torch.Tensor] = []
        below = None
        for layer, x_layer in enumerate(x_gates.unbind(1)):  # unbind: one backward for all layers
            hl, cl = self._layer_step(layer, x_layer, below, h[layer], c[layer])
            new_h.append(hl)
            new_c.append(cl)
            below = hl
        return new_h, new_c

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        x_gates = self.from_input(self.wte(idx)).view(B, T, self.n_layer, 4 * self.n_hidden)
        h = [self.h0[layer].expand(B, -1) for layer in range(self.n_layer)]
        c = [self.c0[layer].expand(B, -1) for layer in range(self.n_layer)]
        outputs = []
        for x_t in x_gates.unbind(1):  # not x_gates[:, t]: each slice's backward zero-fills all of x_gates
            h, c = self._tick(x_t, h, c)
            outputs.append(torch.cat(h, dim=-1))
        return self.head(torch.stack(outputs, dim=1))  # [B, T, V]

    def step(
        self, idx: torch.Tensor, pos: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """idx[B], pos (a 0-d int64), h and c [B, L, H] -> (logits[B, V], h, c).

        At pos == 0 the caller's state (zeros) is replaced by the learned start
        state inside the graph, so the exported file needs nothing but zeros."""
        first = pos == 0
        h = torch.where(first, self.h0.unsqueeze(0).expand_as(h), h)
        c = torch.where(first, self.c0.unsqueeze(0).expand_as(c), c)
        B = idx.shape[0]
        x_gates = self.from_input(self.wte(idx)).view(B, self.n_layer, 4 * self.n_hidden)
        hs, cs = self._tick(x_gates, list(h.unbind(1)), list(c.unbind(1)))
        return self.head(torch.cat(hs, dim=-1)), torch.stack(hs, dim=1), torch.stack(cs, dim=1)

    def onnx_state(self, batch: int) -> list[StateSpec]:
        shape = (batch, self.n_layer, self.n_hidden)
        return [StateSpec("h", torch.zeros(shape)), StateSpec("c", torch.zeros(shape))]
