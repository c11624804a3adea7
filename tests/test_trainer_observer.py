"""The Trainer's observer API: one loop for `mmzoo train` and `mmzoo diagnose`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from conftest import BUILTIN_NAMES

from mmzoo.corpus import load_corpus
from mmzoo.engine.diagnose import diagnose
from mmzoo.engine.training.trainer import Trainer
from mmzoo.plugins import get_zoo
from mmzoo.runs.writer import stamped_path

STEPS = 12


class Log:
    """Records every call, and the loss and the weights the observer sees."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.losses: list[float] = []
        self.changed: list[bool] = []
        self._before: torch.Tensor | None = None

    def on_step_begin(self, trainer: Trainer, step: int) -> None:
        self.calls.append(("begin", step))

    def on_backward_end(self, trainer: Trainer, step: int, loss: torch.Tensor) -> None:
        self.calls.append(("backward", step))
        assert trainer.model.head.weight.grad is not None  # gradients in place
        self._before = trainer.model.head.weight.detach().clone()

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        self.calls.append(("end", step))
        self.losses.append(loss)
        self.changed.append(not torch.equal(self._before, trainer.model.head.weight))  # the optimizer stepped


def small_corpus(tmp_path: Path) -> Any:
    path = tmp_path / "small.txt"
    path.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:1000]) + "\n")
    return load_corpus(str(path))


def test_observers_see_every_step_and_a_watched_run_writes_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    corpus = small_corpus(tmp_path)
    spec = get_zoo().model("mlp-bn")
    recipe = dataclasses.replace(spec.recipe, steps=STEPS, batch_size=32)
    torch.set_num_threads(1)
    watched = Trainer(spec, corpus, spec.make_config(), recipe, 3, None, log=lambda m: None)
    log = Log()
    watched.observers.append(log)
    before = set(tmp_path.rglob("*"))
    assert watched.loop() is False
    assert set(tmp_path.rglob("*")) == before  # no run folder, no checkpoint, no metrics
    assert log.calls == [(kind, s) for s in range(STEPS) for kind in ("begin", "backward", "end")]
    assert all(log.changed) and watched.step == STEPS

    saved = Trainer(spec, corpus, spec.make_config(), recipe, 3, tmp_path / "run", log=lambda m: None)
    (tmp_path / "run").mkdir()
    other = Log()
    saved.observers.append(other)
    saved.loop()
    assert other.losses == log.losses  # same batches, same optimizer, same schedule
    assert (tmp_path / "run" / "metrics.jsonl").exists()

    # diagnose is this same loop: as built, its losses are the Trainer's
    doc = diagnose(spec, corpus, spec.make_config(), recipe, STEPS, "as-built", False, 3).doc
    assert doc["loss"] == [round(v, 4) for v in log.losses]


def test_run_folders_and_diagnose_folders_are_named_in_one_place(tmp_path: Path) -> None:
    first = stamped_path(tmp_path / "mlp")
    first.mkdir(parents=True)
    second = stamped_path(tmp_path / "mlp")
    assert not second.exists() and first != second and first.parent == second.parent
    diag = stamped_path(tmp_path / "mlp", "diagnose-")
    assert diag.name.startswith("diagnose-") and not diag.exists()
    diag.mkdir()
    assert stamped_path(tmp_path / "mlp", "diagnose-") != diag
