"""The training loop: one loop for every model, with the best checkpoint by val
loss always on disk, metrics in metrics.jsonl, clean Ctrl-C and --resume."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mmzoo import __version__
from mmzoo.contract import SPLIT_FRACTIONS, input_mode_of
from mmzoo.corpus import Corpus, split_items
from mmzoo.engine import checkpoint
from mmzoo.engine.batches import SplitTensors, tensorize_splits
from mmzoo.engine.loss import batch_loss, split_loss
from mmzoo.errors import MmzooError
from mmzoo.models.blocks import param_count
from mmzoo.registry import ModelSpec, Recipe

METRICS = "metrics.jsonl"
SYNC_EVERY = 20  # steps between reading the loss back as a Python float


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    best_val_loss: float
    train_loss: float
    seconds: float
    interrupted: bool
    params: int

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["run_dir"] = str(self.run_dir)
        return out


def new_run_dir(root: Path, model_name: str) -> Path:
    """runs/MODEL/<timestamp>/, made unique."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / model_name / stamp
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{stamp}-{n}")
    candidate.mkdir(parents=True)
    return candidate


def lr_at(recipe: Recipe, step: int, total: int) -> float:
    if recipe.warmup and step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    if recipe.schedule == "constant":
        return recipe.lr
    if recipe.schedule == "step":  # the lectures: drop 10x for the last quarter
        return recipe.lr if step < 0.75 * total else recipe.lr * 0.1
    progress = (step - recipe.warmup) / max(1, total - recipe.warmup)
    floor = recipe.lr * recipe.final_lr_fraction
    return floor + 0.5 * (recipe.lr - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """AdamW or SGD, fused where torch has a fused kernel for these parameters: one
    kernel over all of them instead of ~10 small ops per tensor (AdamW's step on the
    transformer: 9.5 ms -> 1.7 ms on one thread); the plain loop where it has none."""
    params = [p for p in model.parameters() if p.requires_grad]
    kinds = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}
    if recipe.optimizer not in kinds:
        raise MmzooError(f"unknown optimizer {recipe.optimizer!r} (adamw or sgd)")
    kwargs: dict[str, Any] = {"lr": recipe.lr, "weight_decay": recipe.weight_decay}
    if recipe.optimizer == "adamw":
        kwargs["betas"] = (0.9, 0.99)
    try:
        return kinds[recipe.optimizer](params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return kinds[recipe.optimizer](params, **kwargs)


def checkpoint_meta(
    spec: ModelSpec, config: Any, corpus: Corpus, seed: int, model: nn.Module, recipe: Recipe, metrics: dict
) -> dict[str, Any]:
    vocab = corpus.vocab
    splits = split_items(corpus.items, seed)
    return {
        "checkpoint_format": checkpoint.CHECKPOINT_FORMAT,
        "mmzoo_version": __version__,
        "model": spec.name,
        "plugin": spec.plugin,
        "plugin_version": spec.plugin_version,
        "config": dataclasses.asdict(config),
        "recipe": dataclasses.asdict(recipe),
        "vocab": list(vocab.chars),
        "context_length": int(model.context_length),
        "input_mode": input_mode_of(model),
        "max_length": corpus.max_length,
        "params": param_count(model),
        "data": {"source": corpus.source, "sha256": corpus.sha256, "items": len(corpus.items)},
        "split": {"seed": seed, "fractions": list(SPLIT_FRACTIONS), "sizes": {k: len(v) for k, v in splits.items()}},
        "metrics": metrics,
    }


class Trainer:
    """Holds one run's state so that the loop, evals, saves and resume share it."""

    def __init__(
        self,
        spec: ModelSpec,
        corpus: Corpus,
        config: Any,
        recipe: Recipe,
        seed: int,
        run_dir: Path,
        log: Callable[[str], None],
    ) -> None:
        self.spec, self.corpus, self.config, self.recipe, self.seed = spec, corpus, config, recipe, seed
        self.run_dir, self.log = run_dir, log
        torch.manual_seed(seed)
        self.model = spec.create(config, corpus.vocab.size)
        self.splits: dict[str, SplitTensors] = tensorize_splits(corpus, seed, self.model)
        if len(self.splits["train"]) == 0 or len(self.splits["val"]) == 0:
            raise MmzooError(f"{corpus.source} has too few items ({len(corpus.items)}) for a train/val split")
        self.optimizer = make_optimizer(self.model, recipe) if spec.fit is None and recipe.steps else None
        self.rng = torch.Generator().manual_seed(seed)
        self.step = 0
        self.best_val = math.inf
        self.train_loss = math.nan
        self.elapsed = 0.0

    # -- checkpoints -----------------------------------------------------

    def _meta(self, val_loss: float) -> dict[str, Any]:
        metrics = {
            "step": self.step,
            "train_loss": self.train_loss,
            "val_loss": val_loss,
            "train_seconds": round(self.elapsed, 2),
        }
        return checkpoint_meta(self.spec, self.config, self.corpus, self.seed, self.model, self.recipe, metrics)

    def evaluate_and_save(self) -> float:
        val = split_loss(self.model, self.splits["val"].x, self.splits["val"].y)
        best = val < self.best_val
        if best:
            self.best_val = val
            checkpoint.save(self.run_dir, self.model.state_dict(), self._meta(val))
        record = {
            "step": self.step,
            "train_loss": self.train_loss,
            "val_loss": val,
            "best": best,
            "seconds": round(self.elapsed, 2),
        }
        with open(self.run_dir / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.save_last()
        return val

    def save_last(self) -> None:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        optim_meta: dict[str, Any] = {}
        if self.optimizer is not None:
            state = self.optimizer.state_dict()
            for idx, pstate in state["state"].items():
                for key, value in pstate.items():
                    tensors[f"optim.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
            optim_meta = {"param_groups": state["param_groups"]}
        tensors["rng"] = self.rng.get_state()
        meta = self._meta(self.best_val)
        meta.update({"step": self.step, "best_val_loss": self.best_val, "optimizer": optim_meta})
        checkpoint.save(self.run_dir, tensors, meta, last=True)

    def restore_last(self) -> None:
        tensors, meta = checkpoint.load(self.run_dir, last=True)
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if self.optimizer is not None and meta.get("optimizer"):
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in tensors.items():
                if key.startswith("optim."):
                    _, idx, name = key.split(".", 2)
                    state.setdefault(int(idx), {})[name] = value
            self.optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
        self.rng.set_state(tensors["rng"])
        self.step = int(meta["step"])
        self.best_val = float(meta["best_val_loss"])
        self.train_loss = float(meta["metrics"]["train_loss"])
        self.elapsed = float(meta["metrics"]["train_seconds"])

    # -- the loop ----------------------------------------------------------

    def fit_by_counting(self) -> None:
        assert self.spec.fit is not None
        started = time.perf_counter()
        self.spec.fit(self.model, self.splits["train"].x, self.splits["train"].y)
        self.train_loss = split_loss(self.model, self.splits["train"].x, self.splits["train"].y)
        self.elapsed = time.perf_counter() - started

    def sync_loss(self) -> None:
        """Fold the pending losses into the smoothed train loss (an EMA, weight 0.02),
        reading them back in one go rather than one `.item()` per step."""
        if not getattr(self, "pending", None):
            return
        values = torch.stack(self.pending).tolist()
        self.pending.clear()
        smoothed = self.train_loss
        for value in values:
            smoothed = value if math.isnan(smoothed) else 0.98 * smoothed + 0.02 * value
        self.train_loss = smoothed

    def run(self, progress: Any = None) -> bool:
        """Train to recipe.steps; returns True if interrupted by Ctrl-C."""
        if self.spec.fit is not None:
            self.fit_by_counting()
            self.evaluate_and_save()
            return False
        recipe, model, train = self.recipe, self.model, self.splits["train"]
        total = recipe.steps
        model.train()
        regularize = getattr(model, "regularization", None)
        interrupted = False
        started = time.perf_counter() - self.elapsed
        self.pending: list[torch.Tensor] = []  # this step's losses, not yet read back
        try:
            while self.step < total:
                for group in self.optimizer.param_groups:
                    group["lr"] = lr_at(recipe, self.step, total)
                ix = torch.randint(0, len(train), (recipe.batch_size,), generator=self.rng)
                # index_select, not x[ix]: the same rows, without advanced indexing's overhead
                loss = batch_loss(model, train.x.index_select(0, ix), train.y.index_select(0, ix))
                if regularize is not None:
                    loss = loss + regularize()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.step += 1
                self.pending.append(loss.detach())
                if self.step % SYNC_EVERY == 0:
                    self.sync_loss()
                if progress is not None:
                    progress(self.step, total, self.train_loss, self.best_val)
                if self.step % recipe.eval_every == 0 or self.step == total:
                    self.sync_loss()
                    self.elapsed = time.perf_counter() - started
                    val = self.evaluate_and_save()
                    self.log(f"step {self.step}/{total}  train {self.train_loss:.4f}  val {val:.4f}")
        except KeyboardInterrupt:
            interrupted = True
        self.sync_loss()
        self.elapsed = time.perf_counter() - started
        if interrupted or not (self.run_dir / checkpoint.WEIGHTS).exists():
            self.evaluate_and_save()
        return interrupted


def train(
    spec: ModelSpec,
    corpus: Corpus,
    config: Any,
    recipe: Recipe,
    seed: int,
    run_dir: Path,
    resume: bool = False,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
    progress: Any = None,
) -> TrainResult:
    trainer = Trainer(spec, corpus, config, recipe, seed, run_dir, log)
    if resume:
        trainer.restore_last()
        log(f"resuming {run_dir} at step {trainer.step}")
    interrupted = trainer.run(progress)
    return TrainResult(
        run_dir=run_dir,
        step=trainer.step,
        best_val_loss=trainer.best_val,
        train_loss=trainer.train_loss,
        seconds=round(trainer.elapsed, 2),
        interrupted=interrupted,
        params=param_count(trainer.model),
    )
