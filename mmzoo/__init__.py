"""mmzoo: a zoo of makemore-style character-level language models.

Importing mmzoo is cheap and torch-free; torch loads only where a model is built.
"""

from mmzoo.errors import MmzooError
from mmzoo.hookspecs import PLUGIN_API_VERSION, hookimpl
from mmzoo.registry import DatasetSpec, ModelSpec, Recipe

__version__ = "0.1.0"

__all__ = ["DatasetSpec", "MmzooError", "ModelSpec", "PLUGIN_API_VERSION", "Recipe", "hookimpl", "__version__"]
