"""What mmzoo knows of one plugin: its distribution, what it registered and
what went wrong; the shared names of the plugin layer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ENTRY_POINT_GROUP = "mmzoo"
BUILTIN_DIST = "mmzoo"
LOAD_ENV = "MMZOO_LOAD_PLUGINS"

# The values of "status" in `mmzoo plugins --json` (docs/plugins.md): part of the stable schema.
OK, BROKEN, DISABLED = "ok", "broken", "disabled"


@dataclass
class PluginInfo:
    """One plugin (an entry point, or an object added at run time) and what it gave.

    A plugin with errors may still have registered some models: a spec that is
    refused does not take its plugin's other specs with it."""

    name: str  # the entry point's name (unique only together with dist)
    dist: str  # the distribution that declares it
    version: str
    api: int | None = None  # the plugin API it declares; None when never imported
    disabled: bool = False  # skipped by MMZOO_LOAD_PLUGINS, never imported
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def status(self) -> str:
        if self.disabled:
            return DISABLED
        return OK if self.ok else BROKEN

    def as_json(self) -> dict[str, Any]:
        """One entry of `mmzoo plugins --json`; keys are documented and only ever added to."""
        return {
            "name": self.name,
            "distribution": self.dist,
            "version": self.version,
            "builtin": self.dist == BUILTIN_DIST,
            "status": self.status,
            "plugin_api": self.api,
            "models": list(self.models),
            "datasets": list(self.datasets),
            "commands": list(self.commands),
            "errors": list(self.errors),
        }


def normalize(dist: str) -> str:
    """PEP 503 normalization, so `mmzoo_lstm`, `mmzoo-lstm` and `MMZoo.LSTM` are one name."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def one_line(exc: BaseException, typed: bool = True) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if not typed:
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
