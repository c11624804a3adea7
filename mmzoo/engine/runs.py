"""Find runs (`mlp-bn` means its newest run in runs/) and rebuild their models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo.engine import checkpoint
from mmzoo.errors import MmzooError

RUNS_ROOT = Path("runs")


def newest_run(model_name: str, root: Path = RUNS_ROOT) -> Path | None:
    folder = root / model_name
    if not folder.is_dir():
        return None
    # a hidden `.NAME.partial` is a run still being made (mmzoo.engine.commands.train)
    runs = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / checkpoint.META).is_file())
    return runs[-1] if runs else None


def resolve(target: str, root: Path = RUNS_ROOT) -> Path:
    """A run folder, a checkpoint file, or a model name (its newest run)."""
    path = Path(target)
    if path.exists() or "/" in target or path.suffix:
        return checkpoint.checkpoint_dir(path)
    run = newest_run(target, root)
    if run is not None:
        return run
    from mmzoo.plugins import get_zoo

    get_zoo().model(target)  # unknown name: error with suggestions
    raise MmzooError(f"no run of {target} in {root}/: train it first with `mmzoo train {target}`")


@dataclass
class LoadedRun:
    directory: Path
    meta: dict[str, Any]
    model: Any  # torch.nn.Module, in eval mode

    @property
    def vocab(self) -> Any:
        from mmzoo.corpus import Vocab

        return Vocab(tuple(self.meta["vocab"]))


def load_run(directory: Path) -> LoadedRun:
    from mmzoo.plugins import get_zoo

    tensors, meta = checkpoint.load(directory)
    spec = get_zoo().model(meta["model"])
    try:
        config = spec.config(**meta["config"])
    except TypeError as exc:
        raise MmzooError(f"{directory}: config does not fit this version of {spec.name}: {exc}") from None
    model = spec.create(config, len(meta["vocab"]))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise MmzooError(
            f"{directory}: weights do not fit {spec.name}: {first[1] if len(first) > 1 else first[0]}"
        ) from None
    model.eval()
    return LoadedRun(directory, meta, model)
