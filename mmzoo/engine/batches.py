"""A corpus split as tensors for one model, built once, up front. Two layouts:

sequences: X[N, L] = [0, c1..cn, 0-pad], Y[N, L] = [c1..cn, 0, -1 pad] (L = max_length)
windows:   X[M, C] = the C tokens before each target, left-padded with 0, Y[M]
Both hold exactly the lectures' (context, next char) examples; -1 marks padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mmzoo.contract import is_window
from mmzoo.corpus import Corpus, Vocab, split_items

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


@dataclass
class SplitTensors:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def batch(self, ix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch source interface, shared with the streamed StreamedSplit."""
        return self.x[ix], self.y[ix]

    def targets(self, ix: torch.Tensor) -> int:
        """How many targets (real positions) the examples ix hold."""
        return len(ix) if self.y.dim() == 1 else int((self.y[ix] != PAD).sum())


def tensorize(items: list[str], vocab: Vocab, length: int, model: Any) -> SplitTensors:
    """Windows for a window model, whole sequences for the others."""
    x, y = sequences(items, vocab, length)
    if is_window(model):
        x, y = windows(x, y, model.context_length)
    return SplitTensors(x, y)


def tensorize_splits(corpus: Corpus, seed: int, model: Any) -> dict[str, SplitTensors]:
    """train, val and test of the corpus, split by `seed`."""
    return {
        name: tensorize(items, corpus.vocab, corpus.max_length, model)
        for name, items in split_items(corpus.items, seed).items()
    }
