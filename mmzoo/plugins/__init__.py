"""The plugin layer: discovery (entry points), the Zoo (what plugins registered),
plugin info and plugin commands. Torch-free."""

from mmzoo.plugins.discovery import allowed_distributions, get_zoo, load_zoo
from mmzoo.plugins.info import BUILTIN_DIST, ENTRY_POINT_GROUP, LOAD_ENV, PluginInfo
from mmzoo.plugins.zoo import Zoo

__all__ = [
    "BUILTIN_DIST",
    "ENTRY_POINT_GROUP",
    "LOAD_ENV",
    "PluginInfo",
    "Zoo",
    "allowed_distributions",
    "get_zoo",
    "load_zoo",
]
