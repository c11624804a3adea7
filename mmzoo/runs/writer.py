"""Writing one run folder: its name, its staging, its publication and metrics.jsonl.

A new run is written in a hidden `.NAME.partial` folder beside its final place and
renamed into place once its first checkpoint is complete, so a crash never leaves a
half-made run under a name `mmzoo sample` would pick. The Trainer owns a RunFolder
and tells it after each checkpoint; nobody else moves the folder under it."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from mmzoo.fsutil import sync_dir
from mmzoo.runs.folder import META, RUNS_ROOT
from mmzoo.runs.lock import lock_path

METRICS = "metrics.jsonl"


def stamped_path(folder: Path, prefix: str = "") -> Path:
    """folder/<prefix><timestamp>, with -2, -3... if taken; not created. The one
    place run folders (and diagnose's folders beside them) get their names."""
    name = prefix + datetime.now().strftime("%Y%m%d-%H%M%S")
    base = folder / name
    candidate, n = base, 1
    while candidate.exists() or lock_path(candidate).exists():  # a new run's lock comes before its folder
        n += 1
        candidate = base.with_name(f"{name}-{n}")
    return candidate


def default_run_path(model_name: str) -> Path:
    """runs/MODEL/<timestamp>: unique, made only when its first checkpoint is saved."""
    return stamped_path(RUNS_ROOT / model_name)


def staging_path(final: Path) -> Path:
    return final.parent / f".{final.name}.partial"


class RunFolder:
    """Where a run's files go now (`path`) and where they end up (`final`)."""

    def __init__(self, final: Path, staged: bool) -> None:
        self.final = Path(final)
        self.path = staging_path(self.final) if staged else self.final
        self.published = not staged

    @classmethod
    def new(cls, final: Path) -> RunFolder:
        """A new run, staged until its first checkpoint. The caller holds the run's lock,
        so a staging folder already there is a dead process's and is cleared."""
        folder = cls(final, staged=True)
        shutil.rmtree(folder.path, ignore_errors=True)
        folder.path.mkdir(parents=True)
        return folder

    @classmethod
    def existing(cls, path: Path) -> RunFolder:
        """A folder written in place: a resumed run, or a test's or library caller's own folder."""
        return cls(path, staged=False)

    def checkpoint_saved(self) -> None:
        """Publish a staged run once its model.json exists (over an empty folder too)."""
        if self.published or not (self.path / META).exists():
            return
        os.replace(self.path, self.final)
        sync_dir(self.final.parent)
        self.path, self.published = self.final, True

    def discard_unpublished(self) -> None:
        """A run that never saved a checkpoint leaves nothing behind."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.path / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def last_logged_step(self) -> int:
        """The step of metrics.jsonl's last line, or -1. Read from the file, not kept in
        memory: Ctrl-C can land between writing the line and noting that it was written."""
        path = self.path / METRICS
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - 4096))
                lines = f.read().splitlines()
            return int(json.loads(lines[-1])["step"]) if lines else -1
        except (OSError, ValueError, KeyError, TypeError):
            return -1


def diagnose_folder(model_name: str) -> Path:
    """runs/MODEL/diagnose-<timestamp>: beside the model's runs, never mistaken for one (no checkpoint)."""
    return stamped_path(RUNS_ROOT / model_name, "diagnose-")


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """A JSON document (diagnose's stats.json, compare.json) through a temp file and a rename."""
    from mmzoo.fsutil import atomic_write

    atomic_write(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
