"""Plugin: `bigram` (counts) and `bigram-nn` (gradient descent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmzoo.hookspecs import hookimpl
from mmzoo.registry import ModelSpec, Recipe


@dataclass(frozen=True)
class BigramConfig:
    # add-k; below 0: chosen on val from a grid when the model is fitted (and recorded in
    # model.json's config), since the best k falls as the vocabulary grows
    smoothing: float = -1.0


@dataclass(frozen=True)
class BigramNNConfig:
    l2: float = 0.01  # weight of the lecture's (W**2).mean() penalty


def fit_counts(model: Any, x: Any, y: Any, val: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Count on train; the smoothing, if left to the data (< 0), is chosen on val. Returns
    the config values it chose, for the run to record."""
    chosen = model.smoothing < 0
    k = model.fit(x, y, val)
    return {"smoothing": k} if chosen else {}


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="bigram",
            params=729,  # at the default config; tests/test_catalog.py checks it
            family="bigram",
            summary="bigram count table with add-k smoothing (makemore part 1)",
            config=BigramConfig,
            build="mmzoo.models.bigram.model:BigramCounts",
            fit=fit_counts,
            recipe=Recipe(steps=0),
        )
    )
    register(
        ModelSpec(
            name="bigram-nn",
            params=729,  # at the default config; tests/test_catalog.py checks it
            family="bigram",
            summary="neural bigram: a VxV weight table trained with an L2 penalty (part 1)",
            config=BigramNNConfig,
            build="mmzoo.models.bigram.model:BigramNN",
            recipe=Recipe(steps=1000, batch_size=8192, lr=0.3, schedule="cosine", eval_every=250),
        )
    )
