"""Turn items into tensors once, up front. Two layouts:

sequences: X[N, L] = [0, c1..cn, 0-pad], Y[N, L] = [c1..cn, 0, -1 pad] (L = max_length)
windows:   X[M, C] = the C tokens before each target, left-padded with 0, Y[M]
Both hold exactly the lectures' (context, next char) examples; -1 marks padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmzoo.data import Vocab

PAD = -1


def sequences(items: list[str], vocab: Vocab, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(len(items), length, dtype=torch.long)
    y = torch.full((len(items), length), PAD, dtype=torch.long)
    for row, item in enumerate(items):
        ids = torch.tensor(vocab.encode(item[: length - 1]), dtype=torch.long)
        n = len(ids)
        x[row, 1 : n + 1] = ids
        y[row, :n] = ids
        y[row, n] = 0
    return x, y


def windows(x: torch.Tensor, y: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """From sequences to every (last `context` tokens, next token) pair, padding dropped."""
    padded = F.pad(x, (context - 1, 0), value=0)  # [N, L + C - 1]
    ctx = padded.unfold(1, context, 1)  # [N, L, C]
    keep = y != PAD  # [N, L]
    return ctx[keep].contiguous(), y[keep].contiguous()  # [M, C], [M]
