"""Batches by length (Recipe.batching = "by_length"): less padding, the same items as
often, every target weighted the same, and a resumed run draws what a whole one does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import BUILTIN_NAMES

from mmzoo.corpus import load_corpus
from mmzoo.engine.data.batches import PAD, sequences
from mmzoo.engine.training.batch_draw import POOL_BATCHES, BatchDraw
from mmzoo.engine.training.trainer import train
from mmzoo.plugins import get_zoo
from mmzoo.registry import Recipe


@pytest.fixture(scope="module")
def names_split() -> object:
    from mmzoo.corpus import Vocab
    from mmzoo.engine.data.batches import SplitTensors

    items = BUILTIN_NAMES.read_text().split()[:4000]
    x, y = sequences(items, Vocab.from_items(items), 20)
    return SplitTensors(x, y)


def _cropped_tokens(split: object, draw: BatchDraw, steps: int) -> int:
    """Token positions the model computes: each batch is cropped to its longest item."""
    return sum(int((split.y[draw.draw(s)] != PAD).sum(1).max()) * draw.batch_size for s in range(steps))  # type: ignore[attr-defined]


def test_by_length_batches_pad_far_less_than_random_ones(names_split: object) -> None:
    recipe = Recipe(batch_size=64)
    steps = 8 * POOL_BATCHES
    random_draw = BatchDraw(names_split, recipe, torch.Generator().manual_seed(0), 0, sequences=True)
    sorted_draw = BatchDraw(names_split, dataclasses.replace(recipe, batching="by_length"), torch.Generator(), 0, True)
    real = sorted_draw.lengths.float().mean().item() * 64 * steps
    random_tokens, sorted_tokens = (
        _cropped_tokens(names_split, random_draw, steps),
        _cropped_tokens(names_split, sorted_draw, steps),
    )
    assert random_tokens > 1.3 * real  # random batches: a third or more is padding
    assert sorted_tokens < 1.1 * real  # by length: nearly all real
    assert not random_draw.by_length and random_draw.weight(random_draw.draw(0)) == 1.0


def test_by_length_draws_items_uniformly_and_weighs_every_target_the_same(names_split: object) -> None:
    recipe = Recipe(batch_size=32, batching="by_length")
    draw = BatchDraw(names_split, recipe, torch.Generator(), 3, sequences=True)
    batches = [draw.draw(s) for s in range(400 * POOL_BATCHES // 4)]
    counts = torch.bincount(torch.cat(batches), minlength=len(draw.lengths)).float()
    assert abs(counts.mean().item() - len(batches) * 32 / len(draw.lengths)) < 1e-6
    assert counts.std().item() < 1.5 * counts.mean().sqrt().item()  # Poisson-like: no item favoured
    lengths = draw.lengths
    assert max(int(lengths[b].max() - lengths[b].min()) for b in batches[:POOL_BATCHES]) <= 3
    # loss = batch mean x weight = (sum of target losses) / (batch x mean targets): the same per target
    for b in batches[:5]:
        assert draw.weight(b) == pytest.approx(float(lengths[b].sum()) / (32 * lengths.float().mean().item()))
    assert sum(draw.weight(b) for b in batches) / len(batches) == pytest.approx(1.0, abs=0.02)


def test_window_models_ignore_by_length(names_split: object) -> None:
    draw = BatchDraw(names_split, Recipe(batching="by_length"), torch.Generator().manual_seed(1), 0, sequences=False)
    assert not draw.by_length and draw.weight(draw.draw(0)) == 1.0


def test_a_resumed_by_length_run_is_the_whole_run(tmp_path: Path, small_names: Path) -> None:
    spec = get_zoo().model("gru")
    corpus = load_corpus(str(small_names))
    recipe = dataclasses.replace(
        spec.recipe, steps=2 * POOL_BATCHES + 8, batch_size=16, eval_every=10**6, batching="by_length"
    )
    config = spec.make_config(overrides={"dropout": "0"})  # dropout draws from the global stream, not resumed
    full = train(spec, corpus, config, recipe, 5, tmp_path / "full", log=lambda m: None)

    def ctrl_c(step: int, total: int, loss: float, best: float) -> None:
        if step == POOL_BATCHES + 3:  # mid-pool
            raise KeyboardInterrupt

    cut = train(spec, corpus, config, recipe, 5, tmp_path / "cut", log=lambda m: None, progress=ctrl_c)
    assert cut.interrupted
    resumed = train(spec, corpus, config, recipe, 5, tmp_path / "cut", resume=True, log=lambda m: None)
    assert resumed.best_val_loss == pytest.approx(full.best_val_loss, abs=1e-5)
