"""What `mmzoo list` shows: each model with its size at the default config."""

from __future__ import annotations

import dataclasses
from typing import Any

from mmzoo.datasets import BUILTIN_VOCAB_SIZE


def model_rows(zoo: Any, pattern: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for spec in zoo.filter_models(pattern):
        rows.append(
            {
                "name": spec.name,
                "family": spec.family or spec.name,
                "params": _params(spec),
                "plugin": spec.plugin,
                "plugin_version": spec.plugin_version,
                "summary": spec.summary,
                "config": dataclasses.asdict(spec.config()),
                "presets": spec.presets,
                "recipe": dataclasses.asdict(spec.recipe),
            }
        )
    return rows


def _params(spec: Any) -> int | None:
    """Params at the default config; None if the plugin's build fails."""
    from mmzoo.models.blocks import param_count

    try:
        return param_count(spec.create(spec.config(), BUILTIN_VOCAB_SIZE))
    except Exception:
        return None
