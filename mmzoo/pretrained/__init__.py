"""The pretrained zoo, shipped inside the package: names-<model>.onnx (step/window files)
and names-<model>.gen.onnx (generator files), trained by `make zoo` on the built-in corpus.

Package data, so that `mmzoo sample gru` finds them from any directory once a wheel is
installed, and light (no torch, no typer): the fast path of `mmzoo sample` calls it.
"""

from __future__ import annotations

from pathlib import Path

from mmzoo.datasets import pretrained_name

PRETRAINED_DIR = Path(__file__).resolve().parent
RUNS_ROOT = Path("runs")  # mmzoo.engine.runs.RUNS_ROOT, which imports torch
RUN_META = "model.json"  # mmzoo.engine.checkpoint.META (same reason)


def has_local_run(model: str, root: Path = RUNS_ROOT) -> bool:
    """Whether runs/MODEL holds a finished run (what mmzoo.engine.runs.newest_run finds)."""
    folder = root / model
    return folder.is_dir() and any(not p.name.startswith(".") and (p / RUN_META).is_file() for p in folder.iterdir())


def pretrained_path(model: str) -> Path | None:
    """The pretrained file of a model: ./exported/ first (a user's own `make zoo`), then the package's."""
    for folder in (Path("exported"), PRETRAINED_DIR):
        path = folder / pretrained_name(model)
        if path.is_file():
            return path
    return None


def fallback(target: str) -> Path | None:
    """The pretrained file that `mmzoo sample TARGET` samples: TARGET is a bare model name
    (not a file, not a path) without a local run, and a pretrained file of it exists."""
    if target.endswith(".onnx") or "/" in target or not target or Path(target).exists() or has_local_run(target):
        return None
    return pretrained_path(target)
