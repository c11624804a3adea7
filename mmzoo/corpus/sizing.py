"""How a corpus sizes a training run, torch-free: the recipe's steps follow the
corpus's training characters, and the bigram count model's val loss is the baseline
every run is reported beside (it costs milliseconds and no network beats it by luck).

The built-in recipes were tuned on the built-in names (about 200k training
characters). Between half and twice that, a recipe runs as tuned; outside, its steps
(and its evaluation interval and warmup with them) scale with the characters, from
a twentieth up to twice the tuned steps, and early stopping ends a run whose val has
stopped improving."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from mmzoo.contract import SPLIT_FRACTIONS

if TYPE_CHECKING:
    from mmzoo.corpus import TrainingCorpus, Vocab
    from mmzoo.registry import Recipe

AS_TUNED = (0.5, 2.0)  # corpus size / the names corpus's within which a recipe runs unchanged
SCALE_BOUNDS = (0.05, 2.0)  # the least and the most of a recipe's steps a corpus can ask for
MIN_EVALS = 6  # a scaled run evaluates at least this often, so early stopping can act
PATIENCE = 3  # evaluations without a new best val before training stops (mmzoo train --patience)
# add-k values the baseline tries on val: the bigram model's own grid (models/bigram/model.py)
SMOOTHING_GRID = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001)
PARAMS_PER_CHAR = 5  # above this many parameters per training character, a network mostly memorises


def training_chars(corpus: TrainingCorpus) -> int:
    """Tokens a training epoch sees: characters plus each item's closing boundary."""
    items = corpus.item_list()
    total = sum(len(i) + 1 for i in items) if items is not None else _store_tokens(corpus)
    return int(total * SPLIT_FRACTIONS[0])


def _store_tokens(corpus: TrainingCorpus) -> int:
    tokens = getattr(corpus, "tokens", None)  # a TokenStore keeps every character in one array
    return (len(tokens) if tokens is not None else 0) + len(corpus)


@functools.cache
def reference_chars() -> int:
    """The built-in names corpus's training characters, what the recipes were tuned on."""
    from mmzoo.corpus import load_corpus

    return training_chars(load_corpus(None))


@dataclasses.dataclass(frozen=True)
class Sizing:
    recipe: Recipe
    factor: float  # steps / the tuned steps
    ratio: float  # training characters / the names corpus's

    def describe(self) -> str:
        if self.factor == 1.0:
            return f"{self.recipe.steps:,} steps as tuned"
        return (
            f"{self.recipe.steps:,} steps, {self.factor:.2g}x the tuned ones for a corpus "
            f"{self.ratio:.2g}x the size of the names it was tuned on"
        )


def fitted_recipe(recipe: Recipe, chars: int, reference: int | None = None) -> Sizing:
    """The recipe for a corpus of `chars` training characters (see the module's docstring)."""
    ratio = chars / (reference or reference_chars())
    low, high = SCALE_BOUNDS
    factor = 1.0 if AS_TUNED[0] <= ratio <= AS_TUNED[1] else min(max(ratio, low), high)
    if factor == 1.0 or recipe.steps == 0:
        return Sizing(recipe, 1.0, ratio)
    steps = max(1, round(recipe.steps * factor))
    eval_every = max(1, min(recipe.eval_every, math.ceil(steps / MIN_EVALS)))
    scaled = dataclasses.replace(recipe, steps=steps, eval_every=eval_every, warmup=min(recipe.warmup, steps // 10))
    return Sizing(scaled, steps / recipe.steps, ratio)


def bigram_baseline(train: list[str], val: list[str], vocab: Vocab) -> tuple[float, float]:
    """(val loss, k) of the add-k bigram count model fitted on `train`, k chosen on val
    from SMOOTHING_GRID: the per-character loss mmzoo reports, for the same split."""
    size = vocab.size
    counts = np.zeros((size, size), dtype=np.float64)
    first, second = _pairs(train, vocab)
    np.add.at(counts, (first, second), 1.0)
    vf, vs = _pairs(val, vocab)
    best = (math.inf, SMOOTHING_GRID[0])
    for k in SMOOTHING_GRID:
        smoothed = counts + k
        logp = np.log(smoothed / smoothed.sum(axis=1, keepdims=True))
        loss = float(-logp[vf, vs].mean()) if len(vf) else math.inf
        best = min(best, (loss, k))
    return best


def _pairs(items: list[str], vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """Every (previous, next) id pair of the items, each framed by the boundary (id 0)."""
    ids: list[int] = []
    for item in items:
        ids.append(0)
        ids.extend(vocab.encode(item))
    ids.append(0)
    seq = np.asarray(ids, dtype=np.int64)
    keep = ~((seq[:-1] == 0) & (seq[1:] == 0))  # no pair spans two boundaries (an empty gap)
    return seq[:-1][keep], seq[1:][keep]
