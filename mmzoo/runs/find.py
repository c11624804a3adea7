"""Find runs: `mlp-bn` means its newest run in runs/, and which plugin a run needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError
from mmzoo.runs import folder as checkpoint
from mmzoo.runs.meta import RunMeta

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


def spec_of_run(directory: Path, meta: RunMeta) -> Any:
    """The run's ModelSpec; if no loaded plugin has it, an error naming the plugin that made it."""
    from mmzoo.plugins import get_zoo
    from mmzoo.plugins.info import BUILTIN_DIST, LOAD_ENV, normalize

    zoo = get_zoo()
    name, plugin = meta.model, meta.plugin
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
    made_by = f"{plugin} {meta.plugin_version}".strip()
    raise MmzooError(f"{directory} is a run of {name!r} from the plugin {made_by}, {why}")
