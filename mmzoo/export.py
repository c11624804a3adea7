"""Kept only for plugins written against plugin API 1, which documented
`from mmzoo.export import StateSpec`. It goes when MIN_PLUGIN_API becomes 2
(docs/plugins.md, "What API 2 added"). Not the exporter: that is
mmzoo.engine.export; new code imports `mmzoo.StateSpec`."""

from mmzoo.contract import StateSpec

__all__ = ["StateSpec"]
