"""`mmzoo runs`: the run folders under runs/, one row each, and their train/val curves.

Torch-free and plugin-free: a row comes from the files a run folder holds (model.json
checked by load_meta, last.json, metrics.jsonl) and from its lock, never from a
network, so listing a hundred runs takes a fraction of a second. A folder that fails
its checks is a row saying so, never a traceback that hides the other runs.

Status, from what the files can tell:
- training: a live process holds the run's lock (a hidden `.NAME.partial` folder or a
  published run still being trained or resumed);
- abandoned: a `.NAME.partial` folder nobody holds (its process died before the first
  checkpoint; the next `mmzoo train --out` over it clears it);
- done: last.json's step is the recipe's steps;
- stopped early: fewer steps, and the last evaluations found no better val (what
  `--patience` stops on; the trainer does not record why it stopped, so a run killed
  after as many evaluations without progress reads the same);
- interrupted: fewer steps otherwise (Ctrl-C, a kill, a divergence): `mmzoo train
  --resume --out RUN` continues it;
- damaged: model.json is missing or fails its checks (the reason is the row's note);
- unknown: model.json is fine but last.json is missing or damaged.
`diagnose-*` folders (mmzoo diagnose's figures) are not runs and are left out.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import math
import os
import stat
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from mmzoo.corpus.sizing import PATIENCE
from mmzoo.errors import MmzooError, UsageError
from mmzoo.fsutil import atomic_write, read_regular
from mmzoo.runs.folder import META, RUNS_ROOT, load_meta
from mmzoo.runs.lock import lock_path
from mmzoo.runs.meta import RunMeta
from mmzoo.runs.writer import METRICS

PARTIAL = ".partial"
DIAGNOSE_PREFIX = "diagnose-"
MAX_METRICS_BYTES = 256 << 20  # one short line per evaluation: millions of evaluations
PLOT_NAME = "curves.png"
MAX_LEGEND = 20  # runs labelled in the figure's legend; beyond, none is


@dataclass
class RunRow:
    """One run folder as `mmzoo runs` shows it (and as `--json` prints it)."""

    model: str
    run: str  # the folder's name (`.NAME.partial` for a run being made)
    path: str
    status: str
    corpus: str | None = None  # data.source as recorded: a file path or a dataset name
    items: int | None = None
    steps: int | None = None  # steps trained so far
    recipe_steps: int | None = None
    best_val: float | None = None  # model.json's val loss: the kept checkpoint's
    best_step: int | None = None
    date: str | None = None  # when the run last evaluated (metrics.jsonl, else model.json)
    note: str | None = None  # why a run is damaged or unknown

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def list_runs(root: Path = RUNS_ROOT, patterns: list[str] | None = None) -> list[RunRow]:
    """Every run under root/MODEL/, oldest first; `patterns` keep the runs whose model or
    run name matches one of them (a glob: `mlp*`) or whose folder one of them names."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"--root {root} is not a folder")
    rows = [run_row(folder) for folder in run_folders(root)]
    if patterns:
        rows = [r for r in rows if any(_matches(r, p) for p in patterns)]
    rows.sort(key=lambda r: (r.date or "", r.model, r.run))
    return rows


def run_folders(root: Path) -> list[Path]:
    """root/MODEL/RUN folders, staging folders included, diagnose folders and files left out."""
    if not root.is_dir():
        return []
    found = []
    for model_dir in sorted(root.iterdir()):
        if model_dir.name.startswith(".") or not _is_dir(model_dir):
            continue
        for entry in sorted(model_dir.iterdir()):
            name = entry.name
            if name.startswith(DIAGNOSE_PREFIX) or not _is_dir(entry):
                continue
            if name.startswith(".") and not (name.endswith(PARTIAL) and len(name) > len(PARTIAL) + 1):
                continue  # locks, temp files, a checkpoint's .prev
            found.append(entry)
    return found


def _is_dir(path: Path) -> bool:
    """A real folder: a symlink to a folder elsewhere is not a run of this tree."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _matches(row: RunRow, pattern: str) -> bool:
    if fnmatch.fnmatchcase(row.model, pattern) or fnmatch.fnmatchcase(row.run, pattern):
        return True
    try:
        return Path(pattern).resolve() == Path(row.path).resolve()
    except OSError:
        return False


def run_row(folder: Path) -> RunRow:
    """One folder's row; every problem is the row's status and note, never an exception."""
    staged = folder.name.startswith(".") and folder.name.endswith(PARTIAL)
    name = folder.name[1 : -len(PARTIAL)] if staged else folder.name
    row = RunRow(model=folder.parent.name, run=folder.name, path=str(folder), status="unknown")
    records = read_metrics(folder / METRICS)
    if records:
        row.steps = records[-1]["step"]
    row.date = _date(folder, bool(records))
    held = lock_held(folder.parent / name)
    try:
        meta: RunMeta | None = load_meta(folder)
    except MmzooError as exc:
        meta = None
        if not staged:
            row.status, row.note = "damaged", str(exc)
    if meta is not None:
        row.model = meta.model
        row.corpus, row.items = meta.data.source, meta.data.items
        best = meta.metrics.get("val_loss")
        row.best_val = float(best) if _number(best) else None
        step = meta.metrics.get("step")
        row.best_step = step if isinstance(step, int) and not isinstance(step, bool) else None
        row.steps = row.steps if row.steps is not None else row.best_step
    if staged:
        row.status = "training" if held else "abandoned"
        return row
    if meta is None:
        return row
    try:
        last = load_meta(folder, last=True)
    except MmzooError as exc:
        last = None
        row.note = str(exc)
    if last is not None:
        recipe_steps = last.recipe.get("steps") if last.recipe else None
        row.recipe_steps = recipe_steps if isinstance(recipe_steps, int) else None
        row.steps = last.step
    if held:
        row.status = "training"
    elif last is not None:
        row.status = _finished(last, records, row.recipe_steps)
    return row


def _finished(last: RunMeta, records: list[dict[str, Any]], recipe_steps: int | None) -> str:
    """done, stopped early or interrupted, for a run nobody is training."""
    step = last.step or 0
    if recipe_steps is None:
        return "unknown"
    if step >= recipe_steps:
        return "done"
    recorded = last.doc.get("stopped_early")  # exact, should the trainer ever record it
    if isinstance(recorded, bool):
        return "stopped early" if recorded else "interrupted"
    since_best = 0
    for record in reversed(records):
        if record.get("best"):
            break
        since_best += 1
    at_last_eval = bool(records) and records[-1]["step"] == step
    return "stopped early" if at_last_eval and since_best >= PATIENCE else "interrupted"


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _date(folder: Path, has_metrics: bool) -> str | None:
    """When the run last evaluated, in local time to the second."""
    for path in ([folder / METRICS] if has_metrics else []) + [folder / META, folder]:
        try:
            return datetime.fromtimestamp(os.stat(path).st_mtime).isoformat(timespec="seconds")
        except OSError:
            continue
    return None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl's records with a whole-number step, in order; a torn or foreign line
    (a crash mid-write, an edit) is skipped, and a missing or unreadable file is none."""
    try:
        text = read_regular(path, MAX_METRICS_BYTES)
    except MmzooError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and not isinstance(record["step"], bool):
            records.append(record)
    return records


def lock_held(target: Path) -> bool:
    """Whether a live process holds `target`'s lock (mmzoo.runs.lock), without taking it:
    /proc/locks where there is one, so that a `mmzoo train` starting at this moment never
    finds the lock taken by us; elsewhere a shared lock tried and let go at once."""
    path = lock_path(target)
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    held = _in_proc_locks(info)
    if held is not None:
        return held
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the shared lock, if we got it
    return False


def _in_proc_locks(info: os.stat_result) -> bool | None:
    """Whether /proc/locks lists an flock on this file; None where it cannot be read.
    Its lines read `1: FLOCK  ADVISORY  WRITE 1234 fe:00:5308505 0 EOF` (major and
    minor in hex); a waiting lock's line has `->` after the number."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read(16 << 20).splitlines()
    except OSError:
        return None
    want = (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    for line in lines:
        fields = [f for f in line.split() if f != "->"]
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == want:
                return True
        except ValueError:
            continue
    return False


# -- the command line's pieces ------------------------------------------------


def split_plot_path(words: list[str], plot: bool, root: Path) -> tuple[list[str], Path | None]:
    """(the run patterns, where the figure goes): with --plot, a FILE.png among the words
    is the figure's path (`mmzoo runs --plot out.png`), else root/curves.png."""
    pngs = [w for w in words if w.lower().endswith(".png")]
    if pngs and not plot:
        raise UsageError(f"{pngs[0]} names a figure: add --plot to draw the curves into it")
    if len(pngs) > 1:
        raise UsageError(f"one figure at a time: got {', '.join(pngs)}")
    patterns = [w for w in words if w not in pngs]
    if not plot:
        return patterns, None
    return patterns, Path(pngs[0]) if pngs else Path(root) / PLOT_NAME


def table_rows(rows: list[RunRow]) -> list[list[str]]:
    """The rows as `mmzoo runs` prints them: the corpus by its file name, steps as done/recipe."""

    def steps(r: RunRow) -> str:
        if r.steps is None:
            return "-"
        return f"{r.steps:,}/{r.recipe_steps:,}" if r.recipe_steps is not None else f"{r.steps:,}"

    return [
        [
            r.model,
            r.run,
            Path(r.corpus).name if r.corpus else "-",
            steps(r),
            f"{r.best_val:.4f}" if r.best_val is not None else "-",
            (r.date or "-").replace("T", " "),
            r.status,
        ]
        for r in rows
    ]


TABLE_HEADERS = ["model", "run", "corpus", "steps", "best val", "date", "status"]


# -- the figure ---------------------------------------------------------------


def require_matplotlib() -> None:
    """Before anything is read: the plots extra is optional."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MmzooError(
            "mmzoo runs --plot draws with matplotlib, which is not installed: "
            "pip install 'mmzoo[plots]' (or pip install matplotlib)"
        ) from None


def plot_curves(rows: list[RunRow], out: Path) -> list[RunRow]:
    """Draw each run's val loss (solid) and train loss (dashed) against the step into the
    PNG `out`, written to a temp name and renamed over it (a symlink planted at `out` is
    replaced, never written through). Returns the runs drawn: those with metrics."""
    require_matplotlib()
    import io

    from matplotlib import colormaps
    from matplotlib.figure import Figure

    curves = [(r, read_metrics(Path(r.path) / METRICS)) for r in rows]
    curves = [(r, recs) for r, recs in curves if recs]
    if not curves:
        raise MmzooError("none of these runs has a metrics.jsonl to plot: train one first")
    cmap = colormaps["tab10"] if len(curves) <= 10 else colormaps["viridis"]
    fig = Figure(figsize=(9, 5.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for n, (row, records) in enumerate(curves):
        colour = cmap(n if len(curves) <= 10 else n / max(1, len(curves) - 1))
        label = f"{row.model} {row.run}"
        val = [(r["step"], r["val_loss"]) for r in records if _number(r.get("val_loss"))]
        train = [(r["step"], r["train_loss"]) for r in records if _number(r.get("train_loss"))]
        best = f" (best {row.best_val:.4f})" if row.best_val is not None else ""
        if row.recipe_steps == 0 and val:  # a model fitted by counting: one value, drawn across
            ax.axhline(val[-1][1], color=colour, linestyle=":", label=f"{label} val{best}, fitted")
            continue
        if val:
            ax.plot(*zip(*val), color=colour, marker="o", markersize=3, label=f"{label} val{best}")
        if train:
            ax.plot(*zip(*train), color=colour, linestyle="--", marker="x", markersize=3, alpha=0.7)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per character)")
    title = "val (solid) and train (dashed) loss; a model fitted by counting dotted"
    if len(curves) <= MAX_LEGEND:
        ax.legend(fontsize=8)
    else:  # hundreds of entries would squeeze the axes to nothing
        title += f"\n{len(curves)} runs: name fewer (`mmzoo runs MODEL --plot`) to label them"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    if out.is_dir():
        raise UsageError(f"{out} is a folder: name a FILE.png")
    atomic_write(out, buffer.getvalue())
    return [r for r, _ in curves]
