"""`mmzoo train`: resolve the model, data, config and recipe, then run the loop."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError, UsageError
from mmzoo.fsutil import sync_dir
from mmzoo.runs.lock import TargetLock

MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class TrainRequest:
    """Everything `mmzoo train` was asked, as the command line says it."""

    model: str
    data: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 42
    sets: dict[str, str] = dataclasses.field(default_factory=dict)
    preset: str | None = None
    out: Path | None = None
    resume: bool = False
    quiet: bool = False
    max_item_length: int | None = None
    device: str | None = None
    threads: int | None = None  # torch threads; None: the policy of mmzoo.threads
    ema: float | None = None  # the recipe's weight-average decay, overridden


def run_train(zoo: Any, req: TrainRequest) -> dict[str, Any]:
    from mmzoo.engine.devices import resolve_device
    from mmzoo.engine.training import distributed
    from mmzoo.threads import choose_threads

    choose_threads(None, req.threads)  # a bad --threads or MMZOO_THREADS fails before a run folder is made

    parallel = distributed.start(resolve_device(req.device))  # a no-op outside torchrun
    try:
        return _run_train(zoo, req, parallel)
    finally:
        parallel.close()


def _run_train(zoo: Any, req: TrainRequest, parallel: Any) -> dict[str, Any]:
    spec = zoo.model(req.model)
    if not 0 <= req.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and 2**63-1, got {req.seed}")
    quiet = req.quiet or not parallel.is_main  # rank 0 alone prints
    if req.resume:
        run_dir = _resume_target(spec, req.out, req)
        with _lock(run_dir, "train --resume", parallel):
            job = _resume_job(spec, run_dir, req.data, req.steps, req.max_item_length, parallel)
            result = _run(job, quiet, parallel, req.threads)
    else:
        config, recipe, corpus = _new_job(spec, req, parallel)
        run_dir = parallel.agree(req.out if req.out is not None else _default_out(spec.name))  # rank 0's name
        with _lock(run_dir, "train", parallel):
            if parallel.is_main:
                _check_new_out(run_dir)
            job = _Job(spec, config, recipe, corpus, req.seed, run_dir, resume=False)
            result = _run(job, quiet, parallel, req.threads)
    if not quiet:
        status = "interrupted; best checkpoint kept" if result.interrupted else "done"
        print(
            f"{status}: best val loss {result.best_val_loss:.4f} in {result.seconds:.1f}s "
            f"({result.params:,} params) -> {result.run_dir}",
            file=sys.stderr,
        )
    return {**result.as_json(), "rank": parallel.rank, "world_size": parallel.world_size}


@dataclass
class _Job:
    spec: Any
    config: Any
    recipe: Any
    corpus: Any
    seed: int
    run_dir: Path
    resume: bool


def _new_job(spec: Any, req: TrainRequest, parallel: Any) -> tuple[Any, Any, Any]:
    from mmzoo.corpus.store import load_training_corpus

    config = spec.make_config(req.preset, req.sets)
    asked = (("steps", req.steps), ("batch_size", req.batch_size), ("lr", req.lr), ("ema", req.ema))
    overrides = {k: v for k, v in asked if v is not None}
    recipe = dataclasses.replace(spec.recipe, **overrides)
    if recipe.steps < 0 or recipe.batch_size < 1 or not (math.isfinite(recipe.lr) and recipe.lr > 0):
        raise UsageError("--steps must be >= 0, --batch-size >= 1 and --lr a finite number > 0")
    if not 0 <= recipe.ema < 1:
        raise UsageError(f"--ema must be >= 0 and < 1 (0: no weight averaging), got {recipe.ema}")
    corpus = parallel.main_first(lambda: load_training_corpus(req.data, req.max_item_length))  # rank 0 first
    return config, recipe, corpus


def _default_out(model_name: str) -> Path:
    """runs/MODEL/<timestamp>, unique; made only when its first checkpoint is saved."""
    from mmzoo.engine.training.trainer import stamped_path
    from mmzoo.runs.find import RUNS_ROOT

    return stamped_path(RUNS_ROOT / model_name)


def _lock(run_dir: Path, what: str, parallel: Any) -> Any:
    """The run folder's lock, held by rank 0 (the one writer) under torchrun."""
    return TargetLock(run_dir, what) if parallel.is_main else contextlib.nullcontext()


def _check_new_out(out: Path) -> None:
    from mmzoo.engine import checkpoint

    if out.is_dir() and ((out / checkpoint.META).exists() or (out / checkpoint.LAST_META).exists()):
        raise MmzooError(f"{out} already holds a run: pass --resume to continue it, or another --out")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a run folder")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} is a folder that is not empty and holds no run: choose another --out")


def _resume_target(spec: Any, out: Path | None, req: TrainRequest) -> Path:
    from mmzoo.engine import checkpoint
    from mmzoo.runs.find import newest_run

    if req.batch_size is not None or req.lr is not None or req.ema is not None:
        raise UsageError("--lr, --batch-size or --ema cannot change a resumed run; it continues with its own recipe")
    run_dir = out or newest_run(spec.name)
    if run_dir is None or not (Path(run_dir) / checkpoint.LAST_META).is_file():
        raise MmzooError(f"nothing to resume: no run of {spec.name} with {checkpoint.LAST_META}")
    return Path(run_dir)


def _resume_job(
    spec: Any, run_dir: Path, data: str | None, steps: int | None, limit: int | None, parallel: Any
) -> _Job:
    from mmzoo.corpus import DEFAULT_MAX_ITEM_LENGTH
    from mmzoo.corpus.store import load_training_corpus
    from mmzoo.engine import checkpoint

    last = checkpoint.load_meta(run_dir, last=True)
    if last["model"] != spec.name:
        raise MmzooError(f"{run_dir} is a run of {last['model']}, not {spec.name}: resume it as {last['model']}")
    try:
        config = spec.config(**last["config"])
        recipe = spec.recipe.__class__(**last["recipe"])
        recipe.validate()
    except (TypeError, ValueError) as exc:
        raise MmzooError(f"{run_dir}: its config does not fit this version of {spec.name}: {exc}") from None
    if steps is not None:
        recipe = dataclasses.replace(recipe, steps=steps)
    limit = max(limit or DEFAULT_MAX_ITEM_LENGTH, last["max_length"])
    corpus = parallel.main_first(lambda: load_training_corpus(data or last["data"]["source"], limit))
    if corpus.sha256 != last["data"]["sha256"]:
        raise MmzooError(f"{corpus.source} has changed since the run started: cannot resume")
    return _Job(spec, config, recipe, corpus, last["split"]["seed"], run_dir, resume=True)


def _run(job: _Job, quiet: bool, parallel: Any, threads: int | None) -> Any:
    """Train; a new run is written in a hidden staging folder and renamed into place
    once its first checkpoint is complete, so a crash never leaves a half-made run.
    Under torchrun, ranks other than 0 train alongside and write nothing."""
    from mmzoo.corpus.store import item_count
    from mmzoo.engine.threads import params_of, use_threads
    from mmzoo.engine.training.trainer import TrainingDiverged, train

    n = use_threads(threads, params_of(job.spec, job.config, job.corpus.vocab.size))
    if not parallel.is_main:
        return train(job.spec, job.corpus, job.config, job.recipe, job.seed, job.run_dir, job.resume,
                     log=lambda msg: None, parallel=parallel)  # fmt: skip

    run_dir = job.run_dir if job.resume else _staging(job.run_dir)
    published = job.resume
    log = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    if not quiet:
        unit = "thread" if n == 1 else "threads"
        print(f"training {job.spec.name} on {job.corpus.source} ({item_count(job.corpus):,} items, {n} {unit}) "
              f"-> {job.run_dir}", file=sys.stderr)  # fmt: skip

    def publish(trainer: Any) -> None:
        nonlocal published
        if not published and (trainer.run_dir / "model.json").exists():
            os.replace(trainer.run_dir, job.run_dir)  # over an empty folder too
            sync_dir(job.run_dir.parent)
            trainer.run_dir, published = job.run_dir, True

    try:
        with _progress(enabled=not quiet and sys.stderr.isatty()) as progress:
            result = train(
                job.spec,
                job.corpus,
                job.config,
                job.recipe,
                job.seed,
                run_dir,
                resume=job.resume,
                log=log,
                progress=progress,
                on_checkpoint=publish,
                parallel=parallel,
            )
    except TrainingDiverged as exc:
        kept = f"the last good checkpoint is kept in {job.run_dir}" if published else "no checkpoint was saved"
        raise MmzooError(f"{exc}: try a lower --lr; {kept}") from None
    finally:
        if not published:
            shutil.rmtree(run_dir, ignore_errors=True)
    if not published:
        raise MmzooError("training saved no checkpoint (the val loss was never finite)")
    from mmzoo.engine.export.causality import suspicious_loss_warning

    warning = suspicious_loss_warning(result.best_val_loss, getattr(job.corpus, "items", []))
    if warning:
        print(f"mmzoo: warning: {warning}", file=sys.stderr)
    return result


def _staging(final: Path) -> Path:
    """A fresh hidden folder beside the run; a stale one is from a dead process (we hold the lock)."""
    staging = final.parent / f".{final.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _start(spec: Any, config: Any, corpus: Any, run_dir: Path, threads: int | None, quiet: bool) -> None:
    """Apply the thread policy for this model's size, and say what is about to run."""
    from mmzoo.engine.threads import params_of, use_threads

    n = use_threads(threads, params_of(spec, config, corpus.vocab.size))
    if not quiet:
        items, unit = len(corpus.items), "thread" if n == 1 else "threads"
        print(f"training {spec.name} on {corpus.source} ({items} items, {n} {unit}) -> {run_dir}", file=sys.stderr)


class _progress:
    """A rich progress bar with the live loss, on a terminal only."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  best val {task.fields[val]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=1, loss="-", val="-")

        def update(step: int, total: int, loss: float, best_val: float) -> None:
            if step % 20 == 0 or step == total:
                self.bar.update(
                    self.task,
                    completed=step,
                    total=total,
                    loss=f"{loss:.4f}",
                    val="-" if best_val == float("inf") else f"{best_val:.4f}",
                )

        return update

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
