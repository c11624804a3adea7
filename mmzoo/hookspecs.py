"""The hooks a plugin may implement. Keyword arguments only; an implementation
may take fewer arguments than the spec, so specs can grow compatibly."""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "mmzoo"

# Bump when a hook or a ModelSpec field changes incompatibly. A plugin module
# that sets `mmzoo_plugin_api = N` with N greater than this is refused.
PLUGIN_API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[[Any], None]) -> None:
    """Call `register(spec)` once per model, with an `mmzoo.ModelSpec`."""


@hookspec
def register_datasets(register: Callable[[Any], None]) -> None:
    """Call `register(spec)` once per named corpus, with an `mmzoo.DatasetSpec`."""


@hookspec
def register_commands(app: Any) -> None:
    """Add subcommands to mmzoo's typer app (`@app.command()`)."""
