"""A corpus split, tensorized for one model: windows or sequences, built once."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from mmzoo import tensors
from mmzoo.data import Corpus, Vocab, split_items
from mmzoo.loss import is_window


@dataclass
class SplitTensors:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]


def tensorize(items: list[str], vocab: Vocab, length: int, model: nn.Module) -> SplitTensors:
    x, y = tensors.sequences(items, vocab, length)
    if is_window(model):
        x, y = tensors.windows(x, y, model.context_length)
    return SplitTensors(x, y)


def tensorize_splits(corpus: Corpus, vocab: Vocab, seed: int, length: int, model: nn.Module) -> dict[str, SplitTensors]:
    return {name: tensorize(items, vocab, length, model) for name, items in split_items(corpus.items, seed).items()}
