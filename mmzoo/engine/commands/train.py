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
    threads: int | None = None,
) -> dict[str, Any]:
    from mmzoo.corpus import load_corpus
    from mmzoo.engine import checkpoint
    from mmzoo.engine.runs import RUNS_ROOT, newest_run
    from mmzoo.engine.train import new_run_dir, train
    from mmzoo.threads import choose_threads

    choose_threads(None, threads)  # a bad --threads or MMZOO_THREADS fails before a run folder is made
    spec = zoo.model(model_name)
    created = False
    if resume:
        run_dir = out or newest_run(spec.name)
        if run_dir is None or not (Path(run_dir) / checkpoint.LAST_META).is_file():
            raise MmzooError(f"nothing to resume: no run of {spec.name} with {checkpoint.LAST_META}")
        run_dir = Path(run_dir)
        last = json.loads((run_dir / checkpoint.LAST_META).read_text())
        config = spec.config(**last["config"])
        recipe = spec.recipe.__class__(**last["recipe"])
        if steps is not None:
            recipe = dataclasses.replace(recipe, steps=steps)
        corpus = load_corpus(data or last["data"]["source"])
        if corpus.sha256 != last["data"]["sha256"]:
            raise MmzooError(f"{corpus.source} has changed since the run started: cannot resume")
        seed = last["split"]["seed"]
    else:
        config = spec.make_config(preset, sets)
        overrides = {k: v for k, v in (("steps", steps), ("batch_size", batch_size), ("lr", lr)) if v is not None}
        recipe = dataclasses.replace(spec.recipe, **overrides)
        if recipe.steps < 0 or recipe.batch_size < 1 or recipe.lr <= 0:
            raise MmzooError("--steps must be >= 0, --batch-size >= 1 and --lr > 0")
        corpus = load_corpus(data)
        if out is not None and (out / checkpoint.META).exists():
            raise MmzooError(f"{out} already holds a run: pass --resume to continue it, or another --out")
        created = out is None or not out.exists()
        run_dir = out or new_run_dir(RUNS_ROOT, spec.name)
        run_dir.mkdir(parents=True, exist_ok=True)
    _start(spec, config, corpus, run_dir, threads, quiet)
    log = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    try:
        with _progress(enabled=not quiet and sys.stderr.isatty()) as progress:
            result = train(spec, corpus, config, recipe, seed, run_dir, resume=resume, log=log, progress=progress)
    except BaseException:
        if created and not (run_dir / checkpoint.META).exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # no empty run for `mmzoo sample MODEL` to trip on
        raise
    if not quiet:
        status = "interrupted; best checkpoint kept" if result.interrupted else "done"
        print(
            f"{status}: best val loss {result.best_val_loss:.4f} in {result.seconds:.1f}s "
            f"({result.params:,} params) -> {run_dir}",
            file=sys.stderr,
        )
    return result.as_json()


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
