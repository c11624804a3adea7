"""Which examples make each training batch: uniformly at random (the lectures' way),
or grouped by length for sequence models (Recipe.batching = "by_length").

A sequence batch is cropped to its longest item, so with random batches of names
about a third of every step's token work is padding. By length, each pool of
POOL_BATCHES random batches is sorted by item length, cut into batches and served
in a random order: the items are drawn exactly as often, and each batch is padded
to little more than its own length. Each pool is drawn from a generator seeded by
(seed, pool number), so a resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

from typing import Any

import torch

from mmzoo.registry import Recipe

POOL_BATCHES = 16  # batches per sorted pool: enough for batches of one length, few enough to stay random
POOL_SEED = 1_000_003  # pool n of seed s is drawn from manual_seed(s * POOL_SEED + n)


class BatchDraw:
    """draw(step) -> the global batch's example indices for that step; weight(ix) ->
    the factor that keeps every target's weight in the loss the same whatever the
    batch (1.0 for random batches)."""

    def __init__(self, split: Any, recipe: Recipe, rng: torch.Generator, seed: int, sequences: bool) -> None:
        self.split, self.batch_size, self.rng, self.seed = split, recipe.batch_size, rng, seed
        self.by_length = recipe.batching == "by_length" and sequences
        self.pool_no = -1
        self.pool: list[torch.Tensor] = []
        if self.by_length:
            self.lengths = split.targets_each()  # [N]: targets per item
            self.mean_targets = float(self.lengths.float().mean())  # a by-length batch is rescaled to it

    def draw(self, step: int) -> torch.Tensor:
        if not self.by_length:
            return torch.randint(0, len(self.split), (self.batch_size,), generator=self.rng)
        pool_no, at = divmod(step, POOL_BATCHES)
        if pool_no != self.pool_no:
            self.pool_no, self.pool = pool_no, self._sorted_pool(pool_no)
        return self.pool[at]

    def _sorted_pool(self, pool_no: int) -> list[torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * POOL_SEED + pool_no)
        ix = torch.randint(0, len(self.split), (POOL_BATCHES * self.batch_size,), generator=gen)
        ix = ix[torch.argsort(self.lengths[ix], stable=True)]
        batches = list(ix.split(self.batch_size))
        return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]

    def weight(self, ix: torch.Tensor) -> float:
        """A batch's loss is the mean over its targets; by length, a batch of short items
        would give each of its targets more weight than a batch of long ones. Scaled by
        targets / (batch x mean targets per item), every target weighs the same."""
        if not self.by_length:
            return 1.0
        return float(self.lengths[ix].sum()) / (len(ix) * self.mean_targets)
