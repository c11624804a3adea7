"""What `mmzoo list` shows: each model with its size at the default config."""

from __future__ import annotations

import dataclasses
from typing import Any

from mmzoo.datasets import BUILTIN_VOCAB_SIZE


def model_rows(zoo: Any, pattern: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for spec in zoo.filter_models(pattern):
        params, error = _params(spec)
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
    return rows


def _params(spec: Any) -> tuple[int | None, str | None]:
    """(params at the default config, None), or (None, why the plugin's build failed)."""
    from mmzoo.models.blocks import param_count

    try:
        return param_count(spec.create(spec.config(), BUILTIN_VOCAB_SIZE)), None
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        return None, lines[0] if lines else type(exc).__name__
