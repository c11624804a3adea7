"""mmzoo: a zoo of makemore-style character-level language models.

Importing mmzoo is cheap: torch loads only where a model is built, and even pluggy
only when the plugin API is touched (the onnxruntime path needs neither).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "MmzooError": "mmzoo.errors",
    "hookimpl": "mmzoo.hookspecs",
    "PLUGIN_API_VERSION": "mmzoo.hookspecs",
    "ModelSpec": "mmzoo.registry",
    "Recipe": "mmzoo.registry",
    "DatasetSpec": "mmzoo.registry",
    "StateSpec": "mmzoo.contract",
}

__all__ = [
    "DatasetSpec",
    "MmzooError",
    "ModelSpec",
    "PLUGIN_API_VERSION",
    "Recipe",
    "StateSpec",
    "hookimpl",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mmzoo' has no attribute {name!r}")
