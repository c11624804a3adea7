"""The hooks a plugin may implement (docs/plugins.md).

Hooks are called with keyword arguments only, and an implementation may take
fewer arguments than its spec, so a spec can grow an argument without breaking
plugins written against it. Anything else is an incompatible change and bumps
PLUGIN_API_VERSION.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "mmzoo"

# The plugin API this mmzoo provides. A plugin module declares the API it was
# written for as `mmzoo_plugin_api = N` (1 when absent). mmzoo loads it when
# MIN_PLUGIN_API <= N <= PLUGIN_API_VERSION and refuses it, with a message
# naming both numbers, otherwise. Bump PLUGIN_API_VERSION when a hook, a spec
# field or the model contract gains something a plugin may rely on; raise
# MIN_PLUGIN_API only when something is taken away.
# 2: ModelSpec.params, build as "module:attribute", mmzoo.StateSpec; 3: Recipe.ema;
# 4: mmzoo.lengths.item_length_field (config sized from the corpus), fit(..., val=) returning chosen config
PLUGIN_API_VERSION = 4
MIN_PLUGIN_API = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[[Any], None]) -> None:
    """Call `register(spec)` once per model, with an `mmzoo.ModelSpec`.

    Keep it cheap: it runs on every `mmzoo` command, so import torch inside
    the spec's `build`, not at module level."""


@hookspec
def register_datasets(register: Callable[[Any], None]) -> None:
    """Call `register(spec)` once per named corpus, with an `mmzoo.DatasetSpec`;
    the name then works as `--data NAME` and shows in `mmzoo datasets`."""


@hookspec
def register_commands(app: Any) -> None:
    """Add subcommands to mmzoo's typer app with `@app.command()`. A command
    whose name is already taken is refused, so a plugin cannot replace `train`."""
