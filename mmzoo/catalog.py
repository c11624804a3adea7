"""What `mmzoo list` shows: each model with its size at the default config.

`mmzoo list` is the first command a user types, so it must not import torch
(2 s warm, 5 s cold). A parameter count comes from, in order:
1. the spec's declared `params` (every built-in model declares it; a test builds
   each model and checks the figure, so it cannot go stale);
2. a cache file, $XDG_CACHE_HOME/mmzoo/params.json, keyed by plugin, plugin
   version, model, build reference and config, so a new plugin release or a
   changed default config is counted afresh;
3. building the model once (this imports torch) and writing the cache.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from mmzoo.datasets import BUILTIN_VOCAB_SIZE

CACHE_ENV = "XDG_CACHE_HOME"


def model_rows(zoo: Any, pattern: str | None = None) -> list[dict[str, Any]]:
    specs = zoo.filter_models(pattern)
    counts = ParamCache()
    rows = []
    for spec in specs:
        params, error = counts.get(spec)
        rows.append(
            {
                "name": spec.name,
                "family": spec.family or spec.name,
                "params": params,
                "error": error,  # why build() failed at the default config, or None
                "plugin": spec.plugin,
                "plugin_version": spec.plugin_version,
                "summary": spec.summary,
                "config": dataclasses.asdict(spec.config()),
                "presets": spec.presets,
                "recipe": dataclasses.asdict(spec.recipe),
            }
        )
    counts.save()
    return rows


def cache_path() -> Path:
    base = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache")
    return Path(base) / "mmzoo" / "params.json"


def cache_key(spec: Any) -> str:
    """Everything the count depends on: a new plugin version or config is a new key."""
    build = spec.build if isinstance(spec.build, str) else f"{spec.build.__module__}:{spec.build.__qualname__}"
    config = json.dumps(dataclasses.asdict(spec.config()), sort_keys=True, default=str)
    return f"{spec.plugin} {spec.plugin_version} {spec.name} {build} {config} vocab={BUILTIN_VOCAB_SIZE}"


class ParamCache:
    """Counts of models that declare none, read once and written back only if it grew."""

    def __init__(self) -> None:
        self.path = cache_path()
        self.entries: dict[str, int] = {}
        self.dirty = False
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self.entries = {k: v for k, v in loaded.items() if isinstance(v, int)}
        except (OSError, ValueError):
            pass  # no cache yet, or a damaged one: count again

    def get(self, spec: Any) -> tuple[int | None, str | None]:
        """(params at the default config, None), or (None, why the plugin's build failed)."""
        if spec.params is not None:
            return int(spec.params), None
        key = cache_key(spec)
        if key not in self.entries:
            count, error = count_params(spec)
            if count is None:
                return None, error
            self.entries[key] = count
            self.dirty = True
        return self.entries[key], None

    def save(self) -> None:
        """Best effort: a read-only home only means counting again next time."""
        if not self.dirty:
            return
        from mmzoo.fsutil import atomic_write

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, (json.dumps(self.entries, indent=1, sort_keys=True) + "\n").encode())
        except OSError:
            pass


def count_params(spec: Any) -> tuple[int | None, str | None]:
    """Build the model at its default config (this imports torch) and count; or say why not."""
    try:
        model = spec.create(spec.config(), BUILTIN_VOCAB_SIZE)
        return sum(p.numel() for p in model.parameters()), None
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        return None, lines[0] if lines else type(exc).__name__
