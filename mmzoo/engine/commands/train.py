"""`mmzoo train`: resolve the model, data, config and recipe, then run the loop."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError


def run_train(
    zoo: Any,
    model_name: str,
    data: str | None,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    sets: dict[str, str],
    preset: str | None,
    out: Path | None,
    resume: bool,
    quiet: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    from mmzoo.engine import distributed
    from mmzoo.engine.devices import resolve_device

    parallel = distributed.start(resolve_device(device))  # a no-op outside torchrun
    try:
        return _run_train(
            zoo, model_name, data, steps, batch_size, lr, seed, sets, preset, out, resume, quiet, parallel
        )
    finally:
        parallel.close()


def _run_train(
    zoo: Any,
    model_name: str,
    data: str | None,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    sets: dict[str, str],
    preset: str | None,
    out: Path | None,
    resume: bool,
    quiet: bool,
    parallel: Any,
) -> dict[str, Any]:
    from mmzoo.corpus_store import item_count, load_training_corpus
    from mmzoo.engine import checkpoint
    from mmzoo.engine.train import train

    spec = zoo.model(model_name)
    created = False
    if resume:
        run_dir, config, recipe, corpus, seed = _resumed(spec, out, steps, data, parallel)
    else:
        config = spec.make_config(preset, sets)
        overrides = {k: v for k, v in (("steps", steps), ("batch_size", batch_size), ("lr", lr)) if v is not None}
        recipe = dataclasses.replace(spec.recipe, **overrides)
        if recipe.steps < 0 or recipe.batch_size < 1 or recipe.lr <= 0:
            raise MmzooError("--steps must be >= 0, --batch-size >= 1 and --lr > 0")
        corpus = parallel.main_first(lambda: load_training_corpus(data))  # rank 0 builds any cache
        if out is not None and (out / checkpoint.META).exists():
            raise MmzooError(f"{out} already holds a run: pass --resume to continue it, or another --out")
        created = out is None or not out.exists()
        run_dir = _new_run_dir(out, spec.name, parallel)
    quiet = quiet or not parallel.is_main
    log = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    if not quiet:
        print(f"training {spec.name} on {corpus.source} ({item_count(corpus)} items) -> {run_dir}", file=sys.stderr)
    try:
        with _progress(enabled=not quiet and sys.stderr.isatty()) as progress:
            result = train(spec, corpus, config, recipe, seed, run_dir, resume, log, progress, parallel)
    except BaseException:
        if created and parallel.is_main and not (run_dir / checkpoint.META).exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # no empty run for `mmzoo sample MODEL` to trip on
        raise
    if not quiet:
        status = "interrupted; best checkpoint kept" if result.interrupted else "done"
        print(
            f"{status}: best val loss {result.best_val_loss:.4f} in {result.seconds:.1f}s "
            f"({result.params:,} params) -> {run_dir}",
            file=sys.stderr,
        )
    return {**result.as_json(), "rank": parallel.rank, "world_size": parallel.world_size}


def _resumed(spec: Any, out: Path | None, steps: int | None, data: str | None, parallel: Any) -> tuple:
    """(run_dir, config, recipe, corpus, seed) of the run to continue."""
    from mmzoo.corpus_store import load_training_corpus
    from mmzoo.engine import checkpoint
    from mmzoo.engine.runs import newest_run

    run_dir = out or newest_run(spec.name)
    if run_dir is None or not (Path(run_dir) / checkpoint.LAST_META).is_file():
        raise MmzooError(f"nothing to resume: no run of {spec.name} with {checkpoint.LAST_META}")
    run_dir = Path(run_dir)
    last = json.loads((run_dir / checkpoint.LAST_META).read_text())
    config = spec.config(**last["config"])
    recipe = spec.recipe.__class__(**last["recipe"])
    if steps is not None:
        recipe = dataclasses.replace(recipe, steps=steps)
    corpus = parallel.main_first(lambda: load_training_corpus(data or last["data"]["source"]))
    if corpus.sha256 != last["data"]["sha256"]:
        raise MmzooError(f"{corpus.source} has changed since the run started: cannot resume")
    return run_dir, config, recipe, corpus, last["split"]["seed"]


def _new_run_dir(out: Path | None, model_name: str, parallel: Any) -> Path:
    """--out or runs/MODEL/<timestamp>, made by rank 0 and the same on every rank."""
    from mmzoo.engine.runs import RUNS_ROOT
    from mmzoo.engine.train import new_run_dir

    run_dir = None
    if parallel.is_main:
        run_dir = out or new_run_dir(RUNS_ROOT, model_name)
        run_dir.mkdir(parents=True, exist_ok=True)
    return parallel.agree(run_dir)


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
