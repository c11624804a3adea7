"""Recipes that fit the corpus (issue 21): steps scaled to the training characters,
early stopping that keeps the best checkpoint, the bigram baseline said beside every
run, and a training a person can follow (the expected duration, plain progress lines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BUILTIN_NAMES, run_mmzoo

from mmzoo.corpus import Vocab, load_corpus, split_items
from mmzoo.corpus.sizing import (
    AS_TUNED,
    MIN_EVALS,
    SCALE_BOUNDS,
    SMOOTHING_GRID,
    bigram_baseline,
    fitted_recipe,
    reference_chars,
    training_chars,
)
from mmzoo.engine.training import progress
from mmzoo.registry import Recipe

RECIPE = Recipe(steps=12_000, batch_size=512, lr=5e-3, eval_every=2000, warmup=200)


def test_a_corpus_near_the_names_runs_the_recipe_as_tuned() -> None:
    for ratio in (AS_TUNED[0], 1.0, 1.07, AS_TUNED[1]):
        sized = fitted_recipe(RECIPE, int(ratio * 1000), reference=1000)
        assert sized.recipe == RECIPE and sized.factor == 1.0


def test_small_and_large_corpora_scale_the_steps_within_bounds() -> None:
    small = fitted_recipe(RECIPE, 10, reference=1000)  # 1% of the names
    assert small.recipe.steps == round(RECIPE.steps * SCALE_BOUNDS[0])  # the floor, not 1%
    assert small.recipe.eval_every <= -(-small.recipe.steps // MIN_EVALS)  # still >= MIN_EVALS evaluations
    assert small.recipe.warmup <= small.recipe.steps // 10
    mid = fitted_recipe(RECIPE, 200, reference=1000)
    assert mid.recipe.steps == round(RECIPE.steps * 0.2) and mid.factor == pytest.approx(0.2)
    big = fitted_recipe(RECIPE, 50_000, reference=1000)
    assert big.recipe.steps == round(RECIPE.steps * SCALE_BOUNDS[1])  # at most twice the tuned steps
    assert big.recipe.eval_every == RECIPE.eval_every


def test_the_reference_is_the_built_in_names() -> None:
    corpus = load_corpus(None)
    assert reference_chars() == training_chars(corpus)
    assert 150_000 < reference_chars() < 250_000
    assert training_chars(corpus) == int(sum(len(i) + 1 for i in corpus.items) * 0.8)


def test_the_baseline_is_the_bigram_models_val_loss(tmp_path: Path) -> None:
    """The number every run is reported beside is what `mmzoo train bigram` reaches."""
    from mmzoo.models.bigram.model import SMOOTHING_GRID as MODEL_GRID

    assert SMOOTHING_GRID == MODEL_GRID
    data = tmp_path / "some.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:3000]) + "\n")
    items = load_corpus(str(data)).items
    splits = split_items(items, 42)
    baseline, k = bigram_baseline(splits["train"], splits["val"], Vocab.from_items(items))
    doc = json.loads(run_mmzoo("train", "bigram", "--data", str(data), "--out", str(tmp_path / "b"), "--json").stdout)
    assert doc["best_val_loss"] == pytest.approx(baseline, abs=1e-5)
    assert json.loads((tmp_path / "b" / "model.json").read_text())["config"]["smoothing"] == k


@pytest.mark.slow  # a few hundred steps of mlp-bn and its evaluations through the real command
def test_a_150_item_corpus_gets_a_short_run_and_the_baseline_beside_it(tmp_path: Path) -> None:
    data = tmp_path / "few.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[::199][:150]) + "\n")
    proc = run_mmzoo("train", "mlp-bn", "--data", str(data), "--out", str(tmp_path / "r"), "--json", cwd=tmp_path)
    doc = json.loads(proc.stdout)
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["recipe"]["steps"] < 12_000 and "0.05x the tuned ones" in proc.stderr  # scaled to the corpus
    assert "warning: 26,531 parameters for" in proc.stderr  # said before training
    assert f"reaches val {doc['baseline_val_loss']:.4f} on the same split" in proc.stderr
    worse = doc["best_val_loss"] > doc["baseline_val_loss"]
    assert worse == ("worse than the bigram baseline" in proc.stderr)
    vals = [json.loads(line)["val_loss"] for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert doc["best_val_loss"] == pytest.approx(min(vals))  # the best is what is kept
    if doc["stopped_early"]:
        assert doc["step"] < meta["recipe"]["steps"] and "stopped early at step" in proc.stderr
        assert vals.index(min(vals)) == len(vals) - 1 - 3  # three evaluations without a better val


@pytest.mark.slow  # two runs of 1,500 steps at most
def test_early_stopping_keeps_the_best_and_stops_after_the_patience(tmp_path: Path) -> None:
    """A model that overfits a tiny corpus: it stops `patience` evaluations after its
    best, and model.json holds that best."""
    data = tmp_path / "tiny.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:60]) + "\n")
    args = ["train", "mlp", "--data", str(data), "--set", "n_hidden=300", "--json"]  # 1,500 scaled steps
    doc = json.loads(run_mmzoo(*args, "--patience", "2", "--out", str(tmp_path / "r"), cwd=tmp_path).stdout)
    vals = [json.loads(line)["val_loss"] for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert doc["stopped_early"] and doc["step"] < 1500
    last = json.loads((tmp_path / "r" / "last.json").read_text())
    assert (last["stopped_early"], last["patience"], last["step"]) == (True, 2, doc["step"])  # for `mmzoo runs`
    assert vals.index(min(vals)) == len(vals) - 3 and doc["best_val_loss"] == pytest.approx(min(vals))
    off = json.loads(run_mmzoo(*args, "--patience", "0", "--out", str(tmp_path / "all"), cwd=tmp_path).stdout)
    assert not off["stopped_early"] and off["step"] == 1500


def test_a_negative_patience_is_one_line() -> None:
    proc = run_mmzoo("train", "mlp", "--patience", "-1", check=False)
    assert proc.returncode == 2 and "--patience must be >= 0" in proc.stderr and "Traceback" not in proc.stderr


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_expected_duration_and_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    said: list[str] = []
    report = progress.ProgressReport(live=False, say=said.append)
    with report:
        for step in range(1, 10_001):
            clock.now = step * 0.01  # 100 steps/s
            report(step, 10_000, 2.5, 2.4)
    assert said[0] == "expected: about 1m40s for the 9,979 steps left (100 steps/s)"
    lines = said[1:]
    assert len(lines) == 3  # one every PLAIN_EVERY (30 s) of a 100 s run
    assert lines[0].startswith("step 3,000/10,000 (30%)  train 2.5000  best val 2.4000  100 steps/s  about 1m10s left")


def test_a_short_run_says_no_expected_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    said: list[str] = []
    with progress.ProgressReport(live=False, say=said.append) as report:
        for step in range(1, 301):
            clock.now = step * 0.01
            report(step, 300, 2.5, 2.4)
    assert said == []
