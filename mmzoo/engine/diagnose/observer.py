"""The diagnosis as an observer of the Trainer's own loop (same batches, optimizer
and schedule as `mmzoo train`). Hooks run only at two snapshot steps, the first
(init) and the last (end); every other step only records the loss and the
update:data ratio of each weight matrix, so a 1000-step diagnosis costs little
more than training."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from mmzoo.engine.diagnose.capture import LayerCapture, Recorder
from mmzoo.engine.diagnose.stats import summarize_layers, summarize_weights
from mmzoo.errors import MmzooError


class DiagnoseObserver:
    """Gathers what `diagnose` reports, step by step (a StepObserver of engine.training.trainer)."""

    def __init__(
        self, model: nn.Module, total: int, seed: int, progress: Callable[[int, int, float], None] | None = None
    ) -> None:
        self.total, self.progress = total, progress
        self.weights = {n: p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2}
        self.recorder = Recorder(model)
        self.sample_rng = torch.Generator().manual_seed(seed)
        self.losses: list[float] = []
        self.updates: dict[str, list[float]] = {n: [] for n in self.weights}
        self.layer_stats: dict[str, dict[str, dict[str, Any]]] = {}
        self.weight_stats: dict[str, dict[str, dict[str, Any]]] = {}
        self.acts: dict[str, dict[str, np.ndarray]] = {}
        self.grads: dict[str, dict[str, np.ndarray]] = {}
        self.wgrads: dict[str, dict[str, np.ndarray]] = {}
        self.kinds: dict[str, dict[str, Any]] = {}
        self.step_seconds: list[float] = []  # forward + backward + optimizer, this observer's work left out
        self._stack: contextlib.ExitStack | None = None
        self._captured: dict[str, LayerCapture] = {}
        self._before: dict[str, torch.Tensor] = {}
        self._clock = self._compute = 0.0

    def snapshot_of(self, step: int) -> str | None:
        return "init" if step == 0 else "end" if step == self.total - 1 else None

    def on_step_begin(self, trainer: Any, step: int) -> None:
        if self.snapshot_of(step):
            self._stack = contextlib.ExitStack()
            self._captured = self._stack.enter_context(self.recorder.capture())
        self._clock = time.perf_counter()

    def on_backward_end(self, trainer: Any, step: int, loss: torch.Tensor) -> None:
        self._compute = time.perf_counter() - self._clock
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        value = loss.item()
        if not math.isfinite(value):
            raise MmzooError(f"the loss is {value} at step {step}: training diverged")
        self.losses.append(value)
        snapshot = self.snapshot_of(step)
        if snapshot:
            self._summarize(snapshot)
        self._before = {n: p.detach().clone() for n, p in self.weights.items()}
        self._clock = time.perf_counter()

    def on_step_end(self, trainer: Any, step: int, loss: float) -> None:
        self._compute += time.perf_counter() - self._clock
        if not self.snapshot_of(step):
            self.step_seconds.append(self._compute)
        with torch.no_grad():
            for n, p in self.weights.items():
                data_std = self._before[n].std().item()
                change = (p - self._before[n]).std().item()
                ratio = change / data_std if data_std > 0 else math.nan
                self.updates[n].append(math.log10(ratio) if ratio > 0 else math.nan)
        if self.progress is not None:
            self.progress(step + 1, self.total, loss)

    def _summarize(self, when: str) -> None:
        captured = self._captured
        self.layer_stats[when], self.acts[when], self.grads[when] = summarize_layers(captured, self.sample_rng)
        self.weight_stats[when], self.wgrads[when] = summarize_weights(self.weights, self.sample_rng)
        for name, layer in captured.items():
            self.kinds.setdefault(name, {"kind": layer.kind, "tanh": layer.tanh, "activation": layer.activation})
        self._captured = {}

    def finish(self) -> None:
        """One step: the end is the init."""
        if "end" not in self.layer_stats and "init" in self.layer_stats:
            self.layer_stats["end"], self.weight_stats["end"] = self.layer_stats["init"], self.weight_stats["init"]
            self.acts["end"], self.grads["end"] = self.acts["init"], self.grads["init"]
            self.wgrads["end"] = self.wgrads["init"]
