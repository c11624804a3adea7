"""The training loop: one loop for every model, with the best checkpoint by val
loss always on disk, metrics in metrics.jsonl, clean Ctrl-C and --resume."""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn as nn

from mmzoo import __version__
from mmzoo.contract import SPLIT_FRACTIONS, context_length_of, input_mode_of, is_window
from mmzoo.corpus import TrainingCorpus
from mmzoo.corpus.store import split_sizes
from mmzoo.engine import checkpoint
from mmzoo.engine.data.token_batches import eval_note, make_splits
from mmzoo.engine.export.causality import check_causal
from mmzoo.engine.loss import split_loss
from mmzoo.engine.training.averaging import WeightAverage
from mmzoo.engine.training.batch_draw import BatchDraw
from mmzoo.engine.training.distributed import Parallel, StepLoss
from mmzoo.errors import MmzooError, UsageError
from mmzoo.models.blocks import param_count
from mmzoo.registry import ModelSpec, Recipe
from mmzoo.runs.writer import RunFolder

DIVERGED_FACTOR, DIVERGED_MARGIN = 2.0, 10.0  # loss above 2 x first + 10 nats: diverged
SYNC_EVERY = 20  # steps between reading the loss back as a Python float


class TrainingDiverged(MmzooError):
    """The loss went non-finite or far above where it started; nothing after it is saved."""


def diverged(loss: float, first: float) -> bool:
    return not math.isfinite(loss) or loss > DIVERGED_FACTOR * first + DIVERGED_MARGIN


@dataclass
class TrainResult:
    run_dir: Path | None
    step: int
    best_val_loss: float
    train_loss: float
    seconds: float
    interrupted: bool
    params: int
    stopped_early: bool = False  # val stopped improving: the loop ended before recipe.steps
    baseline_val_loss: float | None = None  # the bigram count model's on the same split (mmzoo train)

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["run_dir"] = str(self.run_dir)
        return out


class StepObserver(Protocol):
    """Watches the Trainer's loop (mmzoo diagnose does): called with the 0-based step
    being taken. on_step_begin comes before the forward pass, on_backward_end after
    loss.backward() (gradients in place, weights not yet updated), on_step_end after
    optimizer.step(). An observer may raise to stop the run."""

    def on_step_begin(self, trainer: Trainer, step: int) -> None: ...

    def on_backward_end(self, trainer: Trainer, step: int, loss: torch.Tensor) -> None: ...

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None: ...


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
    spec: ModelSpec, config: Any, corpus: TrainingCorpus, seed: int, model: nn.Module, recipe: Recipe, metrics: dict
) -> dict[str, Any]:
    vocab = corpus.vocab
    n_items = len(corpus)  # items, in memory or streamed
    return {
        "checkpoint_format": checkpoint.CHECKPOINT_FORMAT,
        "mmzoo_version": __version__,
        "model": spec.name,
        "plugin": spec.plugin,
        "plugin_version": spec.plugin_version,
        "config": dataclasses.asdict(config),
        "recipe": dataclasses.asdict(recipe),
        "vocab": list(vocab.chars),
        "context_length": context_length_of(model),
        "input_mode": input_mode_of(model),
        "max_length": corpus.max_length,
        "params": param_count(model),
        "data": {"source": corpus.source, "sha256": corpus.sha256, "items": n_items, **eval_note(corpus)},
        "split": {"seed": seed, "fractions": list(SPLIT_FRACTIONS), "sizes": split_sizes(n_items)},
        "metrics": metrics,
    }


class Trainer:
    """Holds one run's state so that the loop, evals, saves and resume share it.
    It owns the run's RunFolder (mmzoo/runs/writer.py): checkpoints and metrics go to
    folder.path, and the folder is published after the first checkpoint. With no
    folder nothing is evaluated or written: a watched run (observers)."""

    def __init__(
        self,
        spec: ModelSpec,
        corpus: TrainingCorpus,
        config: Any,
        recipe: Recipe,
        seed: int,
        folder: RunFolder | Path | None,
        log: Callable[[str], None],
        parallel: Parallel | None = None,
    ) -> None:
        self.spec, self.corpus, self.config, self.recipe, self.seed = spec, corpus, config, recipe, seed
        self.folder = RunFolder.existing(folder) if isinstance(folder, Path) else folder
        self.log = log
        self.parallel = parallel or Parallel()  # rank, world size and device (distributed.py)
        torch.manual_seed(seed)
        self.model = spec.create(config, corpus.vocab.size)
        batch_norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
        if spec.fit is None and recipe.batch_size < 2 and any(isinstance(m, batch_norms) for m in self.model.modules()):
            raise UsageError(
                f"--batch-size {recipe.batch_size}: {spec.name} has BatchNorm, which needs at least 2 examples a batch"
            )
        check_causal(self.model, corpus.vocab.size, spec.name, "train")  # before any time is spent
        # batch sources: len(split) and split.batch(ix) -> (x, y) (engine/data/token_batches.py)
        self.splits: dict[str, Any] = make_splits(corpus, seed, self.model, whole_train=spec.fit is not None)
        if len(self.splits["train"]) == 0 or len(self.splits["val"]) == 0:
            raise MmzooError(f"{corpus.source} has too few items ({len(corpus)}) for a train/val split")
        if spec.fit is None:
            self.model.to(self.parallel.device)
        self.step_loss = StepLoss(self.model, self.parallel) if spec.fit is None else None
        self.optimizer = make_optimizer(self.model, recipe) if spec.fit is None and recipe.steps else None
        # what evaluations see and checkpoints keep, when the recipe averages the weights
        keeps_average = recipe.ema > 0 and self.optimizer is not None and self.folder is not None
        self.average = WeightAverage(self.model, recipe.ema) if keeps_average else None
        self.rng = torch.Generator().manual_seed(seed)
        self.step = 0
        self.best_val = math.inf
        self.train_loss = math.nan
        self.elapsed = 0.0
        self.observers: list[StepObserver] = []
        self.first_loss = math.inf  # the first batch loss of this session, for `diverged`
        # early stopping: the loop ends after this many evaluations without a new best val
        # (0: never; a single process only, so that torchrun's ranks never disagree)
        self.patience = 0
        self.evals_since_best = 0
        self.stopped_early = False

    @property
    def run_dir(self) -> Path | None:
        """Where the run's files are now (its staging folder until the first checkpoint)."""
        return self.folder.path if self.folder is not None else None

    def _writer(self) -> RunFolder:
        assert self.folder is not None, "a watched run (no folder) saves nothing"
        return self.folder

    # -- checkpoints -----------------------------------------------------

    def _meta(self, val_loss: float) -> dict[str, Any]:
        metrics = {
            "step": self.step,
            "train_loss": self.train_loss,
            "val_loss": val_loss,
            "train_seconds": round(self.elapsed, 2),
        }
        meta = checkpoint_meta(self.spec, self.config, self.corpus, self.seed, self.model, self.recipe, metrics)
        return {**meta, "world_size": self.parallel.world_size}

    def evaluate_and_save(self) -> float:
        if not self.parallel.is_main:
            return math.nan  # rank 0 alone evaluates and writes
        folder = self._writer()
        kept = self.kept_model()
        val = split_loss(kept, self.splits["val"].x, self.splits["val"].y)
        if diverged(val, self.first_loss):  # before saving: the last good checkpoints stay
            raise TrainingDiverged(f"training diverged by step {self.step} (val loss {val:.4g})")
        best = val < self.best_val
        self.evals_since_best = 0 if best else self.evals_since_best + 1
        if best:
            self.best_val = val
            checkpoint.save(folder.path, kept.state_dict(), self._meta(val))
        record = {
            "step": self.step,
            "train_loss": self.train_loss,
            "val_loss": val,
            "best": best,
            "seconds": round(self.elapsed, 2),
        }
        folder.append_metrics(record)
        self.save_last()
        folder.checkpoint_saved()
        return val

    def kept_model(self) -> nn.Module:
        """The network that is evaluated, kept and exported: the weight average, if any."""
        return self.average.model if self.average is not None else self.model

    def save_last(self) -> None:
        folder = self._writer()
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        optim_meta: dict[str, Any] = {}
        if self.optimizer is not None:
            state = self.optimizer.state_dict()
            for idx, pstate in state["state"].items():
                for key, value in pstate.items():
                    tensors[f"optim.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
            optim_meta = {"param_groups": state["param_groups"]}
        if self.average is not None:
            tensors.update({f"ema.{k}": v for k, v in self.average.state_dict().items()})
        tensors["rng"] = self.rng.get_state()
        meta = self._meta(self.best_val)
        meta.update({"step": self.step, "best_val_loss": self.best_val, "optimizer": optim_meta,
                     "stopped_early": self.stopped_early, "patience": self.patience})  # fmt: skip
        checkpoint.save(folder.path, tensors, meta, last=True)

    def restore_last(self) -> None:
        tensors, meta = checkpoint.load(self._writer().path, last=True)
        try:
            self._restore(tensors, meta)
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            # last.json passed its checks but was edited to disagree with last.safetensors
            # (config, optimizer groups) or a tensor was removed: one line, not a traceback
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise MmzooError(
                f"{self._writer().path}: last.json and last.safetensors do not fit this run "
                f"({type(exc).__name__}: {first}); it cannot be resumed"
            ) from None

    def _restore(self, tensors: dict[str, torch.Tensor], meta: Any) -> None:
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if self.optimizer is not None and meta.optimizer:
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in tensors.items():
                if key.startswith("optim."):
                    _, idx, name = key.split(".", 2)
                    state.setdefault(int(idx), {})[name] = value
            self.optimizer.load_state_dict({"state": state, "param_groups": meta.optimizer["param_groups"]})
        if self.average is not None:
            self.average.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        self.rng.set_state(tensors["rng"])
        self.step = int(meta.step or 0)
        self.best_val = float(meta.best_val_loss if meta.best_val_loss is not None else math.inf)
        self.train_loss = float(meta.metrics["train_loss"])
        self.elapsed = float(meta.metrics["train_seconds"])

    # -- the loop ----------------------------------------------------------

    def fit_by_counting(self) -> None:
        assert self.spec.fit is not None
        started = time.perf_counter()
        train, val = self.splits["train"], self.splits["val"]
        # a fit that takes `val` may choose settings on it (the bigram's smoothing, in
        # milliseconds); the config values it returns are recorded in model.json
        takes_val = "val" in inspect.signature(self.spec.fit).parameters
        returned = self.spec.fit(self.model, train.x, train.y, **({"val": (val.x, val.y)} if takes_val else {}))
        fields = {f.name for f in dataclasses.fields(self.config)}
        chosen = {k: v for k, v in returned.items() if k in fields} if isinstance(returned, dict) else {}
        if chosen:
            self.config = dataclasses.replace(self.config, **chosen)
            self.log(
                "chosen on val: "
                + " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in chosen.items())
            )
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
        for n, value in enumerate(values):
            self.first_loss = value if self.first_loss == math.inf else self.first_loss
            if diverged(value, self.first_loss):  # checked before any save: the last good checkpoint stays
                at = self.step - len(values) + n + 1
                raise TrainingDiverged(f"training diverged at step {at} (loss {value:.4g})")
            smoothed = value if math.isnan(smoothed) else 0.98 * smoothed + 0.02 * value
        self.train_loss = smoothed

    def loop(self, progress: Any = None) -> bool:
        """Train to recipe.steps; returns True if interrupted by Ctrl-C."""
        if self.spec.fit is not None:
            self.fit_by_counting()
            self.evaluate_and_save()
            return False
        if self.optimizer is None:  # --steps 0: the network as initialised, evaluated and saved
            if self.step_loss is not None:
                self.step_loss.close()
            if self.folder is not None and self.parallel.is_main:
                self.evaluate_and_save()
            return False
        assert self.step_loss is not None, "gradient descent has a step loss"
        recipe, model, train = self.recipe, self.model, self.splits["train"]
        total = recipe.steps
        model.train()
        regularize = getattr(model, "regularization", None)
        interrupted = False
        draw = BatchDraw(train, recipe, self.rng, self.seed, sequences=not is_window(model))
        started = time.perf_counter() - self.elapsed
        self.pending: list[torch.Tensor] = []  # this step's losses, not yet read back
        try:
            while self.step < total:
                for group in self.optimizer.param_groups:
                    group["lr"] = lr_at(recipe, self.step, total)
                ix = draw.draw(self.step)
                for obs in self.observers:
                    obs.on_step_begin(self, self.step)
                loss = self.step_loss(train, ix)  # this rank's shard of the global batch ix
                if draw.by_length:
                    loss = loss * draw.weight(ix)  # every target weighs the same, whatever the batch
                if regularize is not None:
                    loss = loss + regularize()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                for obs in self.observers:
                    obs.on_backward_end(self, self.step, loss)
                self.optimizer.step()
                if self.average is not None:
                    self.average.update()
                for obs in self.observers:
                    obs.on_step_end(self, self.step, loss.item())
                self.step += 1
                self.pending.append(loss.detach())
                if self.step % SYNC_EVERY == 0:
                    self.sync_loss()
                if progress is not None:
                    progress(self.step, total, self.train_loss, self.best_val)
                if self.folder is not None and (self.step % recipe.eval_every == 0 or self.step == total):
                    self.sync_loss()
                    self.elapsed = time.perf_counter() - started
                    val = self.evaluate_and_save()
                    self.log(f"step {self.step}/{total}  train {self.train_loss:.4f}  val {val:.4f}")
                    if self.patience and self.evals_since_best >= self.patience and self.parallel.world_size == 1:
                        self.stopped_early = True
                        self.save_last()  # last.json says why the run ended before its steps
                        break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if self.step_loss is not None:
                self.step_loss.close()
        self.sync_loss()
        self.elapsed = time.perf_counter() - started
        if self.folder is None or not self.parallel.is_main:
            return interrupted  # rank 0 alone evaluates and writes
        saved = (self.folder.path / checkpoint.WEIGHTS).exists()
        if self.folder.last_logged_step() == self.step and saved:
            if interrupted:  # Ctrl-C came during or just after this step's evaluation: no second line
                self.save_last()
        elif interrupted or not saved:
            self.evaluate_and_save()
        return interrupted


def train(
    spec: ModelSpec,
    corpus: TrainingCorpus,
    config: Any,
    recipe: Recipe,
    seed: int,
    folder: RunFolder | Path,
    resume: bool = False,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
    progress: Any = None,
    parallel: Parallel | None = None,
    patience: int = 0,
) -> TrainResult:
    """Train one run into `folder` (a RunFolder, or a Path written in place). With
    `patience`, stop after that many evaluations without a new best val."""
    trainer = Trainer(spec, corpus, config, recipe, seed, folder, log, parallel)
    trainer.patience = patience
    if resume:
        trainer.restore_last()
        log(f"resuming {trainer.run_dir} at step {trainer.step}")
    interrupted = trainer.loop(progress)
    return TrainResult(
        run_dir=trainer.run_dir,
        step=trainer.step,
        best_val_loss=trainer.best_val,
        train_loss=trainer.train_loss,
        seconds=round(trainer.elapsed, 2),
        interrupted=interrupted,
        params=param_count(trainer.model),
        stopped_early=trainer.stopped_early,
    )
