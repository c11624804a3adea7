"""Batches drawn from a TokenStore, padded when drawn rather than up front.

A batch source has len(split) and split.batch(ix) -> (x, y): the in-memory
SplitTensors (batches.py) and StreamedSplit here both do, and the training
loop only draws ix = randint(0, len(split)). A StreamedSplit numbers its examples
exactly as tensorize() does (windows item by item, position by position, in split
order), so the same seed draws the same examples either way.

The train split streams; val is materialised, capped at EVAL_CAP items (the
first ones of the shuffled split: a uniform sample), so that evaluating a
10-million-line corpus stays a second's work. model.json says when it was capped.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from mmzoo.contract import is_window
from mmzoo.corpus import Corpus, TrainingCorpus
from mmzoo.corpus.store import TokenStore
from mmzoo.engine.data.batches import PAD, SplitTensors, tensorize_splits, windows
from mmzoo.runs.meta import RunMeta

EVAL_CAP = 25_000  # items of val evaluated for a streamed corpus (a uniform sample)


class StreamedSplit:
    """One split of a store: windows (context C) for window models, else whole items."""

    def __init__(
        self, store: TokenStore, items: np.ndarray, context: int | None, cum: np.ndarray | None = None
    ) -> None:
        self.tokens, self.offsets = store.tokens, store.offsets
        self.items = items  # item indices, in split order (memory-mapped from the cache)
        self.context = context
        self.cum = cum  # windows: example k lies in item i where cum[i] <= k < cum[i+1]

    def __len__(self) -> int:
        return int(self.cum[-1]) if self.cum is not None else len(self.items)

    def batch(self, ix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = ix.numpy().astype(np.int64)
        if self.cum is None:
            return self._sequences(self.items[k])
        return self._windows(k)

    def targets(self, ix: torch.Tensor) -> int:
        """How many targets the examples ix hold: one per window, or chars + 1 per item."""
        if self.cum is not None:
            return len(ix)
        items = np.asarray(self.items[ix.numpy()], dtype=np.int64)
        return int((self.offsets[items + 1] - self.offsets[items]).sum()) + len(items)

    def targets_each(self) -> torch.Tensor:
        """[N]: how many targets each example holds (1 per window; chars + 1 per item)."""
        if self.cum is not None:
            return torch.ones(len(self), dtype=torch.long)
        items = np.asarray(self.items, dtype=np.int64)
        return torch.from_numpy((self.offsets[items + 1] - self.offsets[items]).astype(np.int64) + 1)

    def _sequences(self, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T] = [0, c1..cn, 0..], y [B, T] = [c1..cn, 0, -1..]; T = longest + 1."""
        items = np.asarray(items, dtype=np.int64)
        start = self.offsets[items]
        n = self.offsets[items + 1] - start  # [B]
        T = int(n.max()) + 1 if len(n) else 1
        p = np.arange(T)[None, :]  # [1, T]
        real = p < n[:, None]  # [B, T]
        tok = np.where(real, self.tokens[np.where(real, start[:, None] + p, 0)], 0).astype(np.int64)
        y = np.where(p > n[:, None], PAD, tok)
        x = np.zeros_like(tok)
        x[:, 1:] = tok[:, :-1]
        return torch.from_numpy(x), torch.from_numpy(y)

    def _windows(self, k: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, C]: the C tokens before target t of its item (0 = boundary/padding), y [B]."""
        assert self.cum is not None and self.context is not None
        # k in cum's own dtype: a mixed-dtype searchsorted would copy all of cum every call
        which = np.searchsorted(self.cum, k.astype(self.cum.dtype), side="right") - 1
        t = k - self.cum[which]  # target position in the item: 0..n
        item = self.items[which].astype(np.int64)
        start = self.offsets[item]
        n = self.offsets[item + 1] - start
        j = t[:, None] - self.context + 1 + np.arange(self.context)[None, :]  # [B, C], x positions
        inside = j >= 1  # x[j] = token j-1 of the item; x[0] and left padding are 0
        x = np.where(inside, self.tokens[np.where(inside, start[:, None] + j - 1, 0)], 0).astype(np.int64)
        last = t < n
        y = np.where(last, self.tokens[np.where(last, start + t, 0)], 0).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y)

    def materialise(self, model: Any, cap: int | None = EVAL_CAP) -> SplitTensors:
        """The first `cap` items as in-memory tensors (windows or sequences), for evaluation."""
        items = self.items if cap is None else self.items[:cap]
        x, y = self._sequences(items)
        if is_window(model):
            x, y = windows(x, y, model.context_length)
        return SplitTensors(x, y)


def streamed_splits(store: TokenStore, seed: int, model: Any, whole_train: bool = False) -> dict[str, Any]:
    """train streams (or is materialised whole, for models fit by counting); val is capped.
    test is left out: training never reads it, and `mmzoo eval` builds its own."""
    parts = store.split(seed)
    if is_window(model):
        train = StreamedSplit(store, parts["train"], int(model.context_length), store.window_counts(seed))
    else:
        train = StreamedSplit(store, parts["train"], None)
    val = StreamedSplit(store, parts["val"], None).materialise(model)
    return {"train": train.materialise(model, cap=None) if whole_train else train, "val": val}


def make_splits(corpus: TrainingCorpus, seed: int, model: Any, whole_train: bool = False) -> dict[str, Any]:
    """Batch sources of train, val and test, for a Corpus or a TokenStore."""
    if corpus.streamed:
        return streamed_splits(cast(TokenStore, corpus), seed, model, whole_train)
    return tensorize_splits(cast(Corpus, corpus), seed, model)


def eval_note(corpus: TrainingCorpus) -> dict[str, Any]:
    """What model.json should say about a capped evaluation."""
    if not corpus.streamed:
        return {}
    return {"streamed": True, "eval_cap_items": EVAL_CAP}


CALIBRATION_CAP = 200_000  # train items whose activations calibrate BatchNorm at export


def export_splits(meta: RunMeta, model: Any) -> tuple[SplitTensors, SplitTensors]:
    """(train, val) for `mmzoo export` of a run trained on a streamed corpus: a uniform
    sample of CALIBRATION_CAP train items and EVAL_CAP val items."""
    parts = _stored_split(meta)
    train = StreamedSplit(*parts["train"]).materialise(model, CALIBRATION_CAP)
    return train, StreamedSplit(*parts["val"]).materialise(model)


def eval_samples(meta: RunMeta, model: Any) -> dict[str, tuple[int, SplitTensors]]:
    """For `mmzoo eval` of a run on a streamed corpus: (items evaluated, tensors) of each
    split, capped at EVAL_CAP items."""
    parts = _stored_split(meta)
    out = {}
    for name, (store, items, _) in parts.items():
        out[name] = (min(len(items), EVAL_CAP), StreamedSplit(store, items, None).materialise(model))
    return out


def _stored_split(meta: RunMeta) -> dict[str, tuple[TokenStore, np.ndarray, None]]:
    from mmzoo.runs.data import run_corpus

    store = cast(TokenStore, run_corpus(meta))  # a streamed run's corpus is a token store
    return {name: (store, items, None) for name, items in store.split(meta.split_seed).items()}
