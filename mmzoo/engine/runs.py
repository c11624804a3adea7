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


def spec_of_run(directory: Path, meta: dict[str, Any]) -> Any:
    """The run's ModelSpec; if no loaded plugin has it, an error naming the plugin that made it."""
    from mmzoo.plugins import get_zoo
    from mmzoo.plugins.info import BUILTIN_DIST, LOAD_ENV, normalize

    zoo = get_zoo()
    name, plugin = meta["model"], meta.get("plugin") or ""
    if name in zoo.models or not plugin or plugin == BUILTIN_DIST:
        return zoo.model(name)
    state = next((p for p in zoo.plugins if normalize(p.dist) == normalize(plugin)), None)
    if state is None:
        why = f"which is not installed (pip install {plugin})"
    elif state.disabled:
        why = f"which is installed but disabled ({LOAD_ENV} leaves it out)"
    elif state.errors:
        why = f"which did not load: {state.errors[0]}"
    else:
        why = f"which no longer registers {name!r}"
    made_by = f"{plugin} {meta.get('plugin_version', '')}".strip()
    raise MmzooError(f"{directory} is a run of {name!r} from the plugin {made_by}, {why}")


def load_run(directory: Path) -> LoadedRun:
    tensors, meta = checkpoint.load(directory)
    spec = spec_of_run(directory, meta)
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
