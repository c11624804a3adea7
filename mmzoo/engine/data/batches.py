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
    """All items at once (a Python loop of row writes took ~1 s for 32k names)."""
    encoded = [vocab.encode(item[: length - 1]) for item in items]
    lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.long)  # [N]
    flat = torch.tensor([i for ids in encoded for i in ids], dtype=torch.long)  # [sum of lengths]
    y = torch.full((len(items), length), PAD, dtype=torch.long)
    y[torch.arange(length)[None, :] < lengths[:, None]] = flat  # row-major: each item's ids in order
    y[torch.arange(len(items)), lengths] = 0  # the closing boundary
    x = torch.zeros(len(items), length, dtype=torch.long)
    x[:, 1:] = y[:, :-1].clamp(min=0)  # shifted right by one, 0 first; PAD becomes 0
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
        """The batch source interface, shared with the streamed StreamedSplit.
        index_select, not x[ix]: the same rows, without advanced indexing's overhead."""
        return self.x.index_select(0, ix), self.y.index_select(0, ix)

    def targets(self, ix: torch.Tensor) -> int:
        """How many targets (real positions) the examples ix hold."""
        return len(ix) if self.y.dim() == 1 else int((self.y[ix] != PAD).sum())

    def targets_each(self) -> torch.Tensor:
        """[N]: how many targets each example holds (1 per window; chars + 1 per item)."""
        return torch.ones(len(self), dtype=torch.long) if self.y.dim() == 1 else (self.y != PAD).sum(1)


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
