"""`mmzoo train`: resolve the model, data, config and recipe, then run the loop."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmzoo.errors import MmzooError, UsageError
from mmzoo.registry import ModelSpec, Recipe
from mmzoo.runs.folder import LAST_META, META
from mmzoo.runs.lock import TargetLock, sweep_stale_partials

if TYPE_CHECKING:
    from mmzoo.corpus import TrainingCorpus
    from mmzoo.engine.training.distributed import Parallel
    from mmzoo.engine.training.trainer import TrainResult
    from mmzoo.plugins import Zoo

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
    patience: int | None = None  # evaluations without a new best before stopping; 0 never; None the default


def train_command(zoo: Zoo, req: TrainRequest) -> dict[str, Any]:
    """`mmzoo train`, in this process (one rank of it under torchrun)."""
    from mmzoo.engine.devices import resolve_device
    from mmzoo.engine.training import distributed
    from mmzoo.threads import choose_threads

    choose_threads(None, req.threads)  # a bad --threads or MMZOO_THREADS fails before a run folder is made

    parallel = distributed.start(resolve_device(req.device))  # a no-op outside torchrun
    try:
        return _train_on_this_rank(zoo, req, parallel)
    finally:
        parallel.close()


def _train_on_this_rank(zoo: Zoo, req: TrainRequest, parallel: Parallel) -> dict[str, Any]:
    spec = zoo.model(req.model)
    if not 0 <= req.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and 2**63-1, got {req.seed}")
    quiet = req.quiet or not parallel.is_main  # rank 0 alone prints
    if req.resume:
        final = _resume_target(spec, req)
        with _lock(final, "train --resume", parallel):
            job = _resume_job(spec, final, req, parallel)
            result = _execute(job, quiet, parallel, req.threads)
    else:
        job = _new_job(spec, req, parallel)
        with _lock(job.final, "train", parallel):
            if parallel.is_main:
                _check_new_out(job.final)
                if req.out is None:  # timestamped names: a kill -9's staging folder is never reused
                    sweep_stale_partials(job.final.parent)
            result = _execute(job, quiet, parallel, req.threads)
    if not quiet:
        status = "interrupted; best checkpoint kept" if result.interrupted else "done"
        print(
            f"{status}: best val loss {result.best_val_loss:.4f} in {result.seconds:.1f}s "
            f"({result.params:,} params) -> {result.run_dir}",
            file=sys.stderr,
        )
    return {**result.as_json(), "rank": parallel.rank, "world_size": parallel.world_size}


@dataclass(frozen=True)
class TrainJob:
    """One training, resolved: what to build, on what, and where it ends up."""

    spec: ModelSpec
    config: Any  # an instance of spec.config (each plugin has its own dataclass)
    recipe: Recipe
    corpus: TrainingCorpus
    seed: int
    final: Path  # the run folder, once published
    resume: bool
    patience: int = 0  # early stopping (mmzoo.corpus.sizing.PATIENCE by default)
    recipe_note: str = ""  # how the recipe was fitted to the corpus, for the first lines


def _new_job(spec: ModelSpec, req: TrainRequest, parallel: Parallel) -> TrainJob:
    from mmzoo.corpus.sizing import fitted_recipe, training_chars
    from mmzoo.corpus.store import load_training_corpus
    from mmzoo.lengths import config_for_corpus
    from mmzoo.runs.writer import default_run_path

    spec.make_config(req.preset, req.sets)  # a bad --set fails before a large corpus is read
    recipe = _recipe_with_flags(spec.recipe, req)
    corpus = parallel.main_first(lambda: load_training_corpus(req.data, req.max_item_length))  # rank 0 first
    # the context from the corpus: item-length fields sized to the longest item unless set,
    # a set one too short refused now, not when a batch first holds a long item (mmzoo/lengths.py)
    config = config_for_corpus(spec, req.preset, req.sets, corpus.max_length, corpus.source)
    note = f"{recipe.steps:,} steps (--steps)"
    if req.steps is None:  # the tuned steps, scaled to this corpus (mmzoo/corpus/sizing.py)
        sizing = fitted_recipe(recipe, training_chars(corpus))
        recipe, note = sizing.recipe, sizing.describe()
    final = parallel.agree(req.out if req.out is not None else default_run_path(spec.name))  # rank 0's name
    return TrainJob(spec, config, recipe, corpus, req.seed, Path(final), resume=False,
                    patience=_patience(req), recipe_note=note)  # fmt: skip


def _patience(req: TrainRequest) -> int:
    from mmzoo.corpus.sizing import PATIENCE

    if req.patience is None:
        return PATIENCE
    if req.patience < 0:
        raise UsageError(f"--patience must be >= 0 (0: never stop early), got {req.patience}")
    return req.patience


FLAGS = {"steps": "--steps", "batch_size": "--batch-size", "lr": "--lr", "ema": "--ema"}


def _recipe_with_flags(recipe: Recipe, req: TrainRequest) -> Recipe:
    """The spec's recipe with the command line's overrides, checked by Recipe.validate."""
    asked: dict[str, Any] = {"steps": req.steps, "batch_size": req.batch_size, "lr": req.lr, "ema": req.ema}
    overrides = {k: v for k, v in asked.items() if v is not None}
    recipe = dataclasses.replace(recipe, **overrides)
    try:
        recipe.validate()
    except ValueError as exc:
        message = str(exc).removeprefix("recipe: ")
        field = message.split(" ", 1)[0]
        raise UsageError(f"{FLAGS[field]}{message[len(field) :]}" if field in overrides else str(exc)) from None
    return recipe


def _lock(run_dir: Path, what: str, parallel: Parallel) -> Any:
    """The run folder's lock, held by rank 0 (the one writer) under torchrun."""
    return TargetLock(run_dir, what) if parallel.is_main else contextlib.nullcontext()


def _check_new_out(out: Path) -> None:
    if out.is_symlink():  # the staged run is renamed onto --out at its first checkpoint: a link fails there
        raise UsageError(f"--out {out} is a symbolic link; name the folder it points to instead")
    if out.is_dir() and ((out / META).exists() or (out / LAST_META).exists()):
        raise MmzooError(f"{out} already holds a run: pass --resume to continue it, or another --out")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a run folder")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} is a folder that is not empty and holds no run: choose another --out")


def _resume_target(spec: ModelSpec, req: TrainRequest) -> Path:
    from mmzoo.runs.folder import newest_run

    if req.batch_size is not None or req.lr is not None or req.ema is not None:
        raise UsageError("--lr, --batch-size or --ema cannot change a resumed run; it continues with its own recipe")
    run_dir = req.out or newest_run(spec.name)
    if run_dir is None or not (Path(run_dir) / LAST_META).is_file():
        raise MmzooError(f"nothing to resume: no run of {spec.name} with {LAST_META}")
    return Path(run_dir)


def _resume_job(spec: ModelSpec, final: Path, req: TrainRequest, parallel: Parallel) -> TrainJob:
    """The job a run's last.json describes; --data may point at its corpus if it moved."""
    from mmzoo.runs.data import run_corpus
    from mmzoo.runs.folder import load_meta

    last = load_meta(final, last=True)
    if last.model != spec.name:
        raise MmzooError(f"{final} is a run of {last.model}, not {spec.name}: resume it as {last.model}")
    try:
        config = spec.config(**last.config)
        recipe = spec.recipe.__class__(**(last.recipe or {}))
        recipe.validate()
    except (TypeError, ValueError) as exc:
        raise MmzooError(f"{final}: its config does not fit this version of {spec.name}: {exc}") from None
    if req.steps is not None:
        recipe = dataclasses.replace(recipe, steps=req.steps)
    corpus = parallel.main_first(lambda: run_corpus(last, req.max_item_length, req.data))  # rank 0 first
    return TrainJob(spec, config, recipe, corpus, last.split_seed, final, resume=True, patience=_patience(req))


def _execute(job: TrainJob, quiet: bool, parallel: Parallel, threads: int | None) -> TrainResult:
    """Train. The Trainer writes through a RunFolder (mmzoo/runs/writer.py): a new run
    is staged and appears under its name with its first checkpoint. Under torchrun,
    ranks other than 0 train alongside, read the folder on resume and write nothing."""
    from mmzoo.engine.threads import params_of, use_threads
    from mmzoo.engine.training.progress import ProgressReport
    from mmzoo.engine.training.trainer import TrainingDiverged, train
    from mmzoo.runs.writer import RunFolder

    n = use_threads(threads, params_of(job.spec, job.config, job.corpus.vocab.size))
    if not parallel.is_main:
        return train(job.spec, job.corpus, job.config, job.recipe, job.seed, RunFolder(job.final, staged=False),
                     job.resume, log=lambda msg: None, parallel=parallel)  # fmt: skip

    folder = RunFolder.existing(job.final) if job.resume else RunFolder.new(job.final)
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    unit = "thread" if n == 1 else "threads"
    say(f"training {job.spec.name} on {job.corpus.source} ({len(job.corpus):,} items, {n} {unit}) -> {job.final}")
    if job.recipe_note and job.spec.fit is None:
        say(f"recipe: {job.recipe_note}; evaluating every {job.recipe.eval_every:,}, stopping after "
            f"{job.patience} without a better val" if job.patience else f"recipe: {job.recipe_note}")  # fmt: skip
    _warn_if_too_small(job, say)
    try:
        with ProgressReport(live=not quiet and sys.stderr.isatty(), say=say) as progress:
            result = train(job.spec, job.corpus, job.config, job.recipe, job.seed, folder, job.resume, log=say,
                           progress=None if quiet else progress, parallel=parallel, patience=job.patience)  # fmt: skip
    except TrainingDiverged as exc:
        kept = f"the last good checkpoint is kept in {job.final}" if folder.published else "no checkpoint was saved"
        raise MmzooError(f"{exc}: try a lower --lr; {kept}") from None
    finally:
        folder.discard_unpublished()
    if not folder.published:
        raise MmzooError("training saved no checkpoint (the val loss was never finite)")
    if result.stopped_early:
        say(f"stopped early at step {result.step:,}: no better val in {job.patience} evaluations "
            f"(the best checkpoint is kept; --patience 0 trains all {job.recipe.steps:,} steps)")  # fmt: skip
    result.baseline_val_loss = _baseline(job, result, say)
    from mmzoo.engine.export.causality import suspicious_loss_warning

    warning = suspicious_loss_warning(result.best_val_loss, job.corpus.item_list() or [])
    if warning:
        print(f"mmzoo: warning: {warning}", file=sys.stderr)
    return result


def _warn_if_too_small(job: TrainJob, say: Callable[[str], None]) -> None:
    from mmzoo.corpus.sizing import PARAMS_PER_CHAR, training_chars
    from mmzoo.engine.threads import params_of

    params, chars = params_of(job.spec, job.config, job.corpus.vocab.size), training_chars(job.corpus)
    if job.spec.fit is None and params is not None and params > PARAMS_PER_CHAR * max(chars, 1):
        say(f"mmzoo: warning: {params:,} parameters for {chars:,} training characters: {job.spec.name} can "
            f"memorise this corpus; watch the val loss against the bigram baseline at the end")  # fmt: skip


def _baseline(job: TrainJob, result: TrainResult, say: Callable[[str], None]) -> float | None:
    """The bigram count model's val loss on the same split (milliseconds), said beside the
    run's, with a warning if the network ended worse; None for a streamed corpus."""
    from mmzoo.corpus import split_items
    from mmzoo.corpus.sizing import bigram_baseline

    items = job.corpus.item_list()
    if items is None or job.spec.fit is not None:
        return None
    splits = split_items(items, job.seed)
    baseline, k = bigram_baseline(splits["train"], splits["val"], job.corpus.vocab)
    say(f"baseline: the bigram count model (add-{k:g}) reaches val {baseline:.4f} on the same split")
    if result.best_val_loss > baseline:
        say(f"mmzoo: warning: {job.spec.name} ended at val {result.best_val_loss:.4f}, worse than the bigram "
            f"baseline's {baseline:.4f}: with {len(splits['train']):,} training items the network memorised "
            f"them or did not train long enough; try `mmzoo train bigram`, a smaller network (--set), "
            f"or more data")  # fmt: skip
    return baseline
