"""The ModelSpec that rebuilds a run, or an error naming the plugin that made it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError
from mmzoo.runs.meta import RunMeta


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
