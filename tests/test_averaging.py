"""Weight averaging (Recipe.ema): the run evaluates and keeps the moving average of
its weights, the live weights go on training, and a resumed run ends where a whole
one does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_mmzoo
from safetensors.torch import load_file

from mmzoo.corpus import load_corpus
from mmzoo.engine.training.trainer import Trainer, train
from mmzoo.plugins import get_zoo
from mmzoo.registry import Recipe

DECAY = 0.9


class OwnAverage:
    """The moving average computed here, step by step, from the live weights: the first
    step's weights, then update n (n steps averaged so far) decays by min(DECAY, (1+n)/(10+n))."""

    def __init__(self) -> None:
        self.average: dict[str, torch.Tensor] = {}
        self.n = 0

    def on_step_begin(self, trainer: Trainer, step: int) -> None: ...

    def on_backward_end(self, trainer: Trainer, step: int, loss: torch.Tensor) -> None: ...

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        d = min(DECAY, (1 + self.n) / (10 + self.n))
        for name, p in trainer.model.named_parameters():
            w = p.detach().clone()
            self.average[name] = w if name not in self.average else d * self.average[name] + (1 - d) * w
        self.n += 1


def test_a_run_with_ema_keeps_the_average_and_the_live_weights_train_on(tmp_path: Path, small_names: Path) -> None:
    spec = get_zoo().model("mlp-bn")
    recipe = dataclasses.replace(spec.recipe, steps=30, batch_size=32, eval_every=30, ema=DECAY)
    trainer = Trainer(spec, load_corpus(str(small_names)), spec.config(), recipe, 3, tmp_path, lambda m: None)
    own = OwnAverage()
    trainer.observers.append(own)
    trainer.loop()
    saved = load_file(tmp_path / "model.safetensors")
    live = trainer.model.state_dict()
    for name, average in own.average.items():
        assert torch.allclose(saved[name], average, atol=1e-6), name
        assert not torch.allclose(saved[name], live[name], atol=1e-4), f"{name}: the live weights were saved"
    for name in ("blocks.1.running_mean", "blocks.1.running_var"):  # BatchNorm's statistics: the live ones
        assert torch.equal(saved[name], live[name])
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["recipe"]["ema"] == DECAY


def test_a_resumed_run_with_ema_is_the_whole_run(tmp_path: Path, small_names: Path) -> None:
    spec = get_zoo().model("gru")
    corpus = load_corpus(str(small_names))
    recipe = dataclasses.replace(spec.recipe, steps=24, batch_size=16, eval_every=10**6, ema=DECAY)
    config = spec.make_config(overrides={"dropout": "0"})  # dropout draws from the global stream, not resumed
    full = train(spec, corpus, config, recipe, 5, tmp_path / "full", log=lambda m: None)

    def ctrl_c(step: int, total: int, loss: float, best: float) -> None:
        if step == 11:
            raise KeyboardInterrupt

    cut = train(spec, corpus, config, recipe, 5, tmp_path / "cut", log=lambda m: None, progress=ctrl_c)
    assert cut.interrupted
    resumed = train(spec, corpus, config, recipe, 5, tmp_path / "cut", resume=True, log=lambda m: None)
    assert resumed.best_val_loss == pytest.approx(full.best_val_loss, abs=1e-6)
    whole, again = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert all(torch.allclose(whole[k], again[k], atol=1e-6) for k in whole)


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_a_recipe_ema_outside_0_to_1_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="ema must be in"):
        Recipe(ema=bad).validate()


@pytest.mark.slow
def test_ema_on_the_command_line_sets_the_run_and_cannot_change_a_resumed_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "mlp", "--data", "names", "--steps", "20", "--threads", "1", "--out", str(run)]
    run_mmzoo(*args, "--ema", "0.5", "--json", cwd=tmp_path)
    meta: dict[str, Any] = json.loads((run / "model.json").read_text())
    assert meta["recipe"]["ema"] == 0.5
    proc = run_mmzoo(*args, "--resume", "--ema", "0.9", check=False, cwd=tmp_path)
    assert proc.returncode == 2 and "--ema cannot change a resumed run" in proc.stderr
