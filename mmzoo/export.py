"""Where plugin API 1 documented `StateSpec`; it lives in mmzoo.contract now and is
exported as `mmzoo.StateSpec`. Kept so that plugins written against API 1 still
import. Torch-free: it has nothing to do with the exporter (mmzoo.engine.export)."""

from mmzoo.contract import StateSpec

__all__ = ["StateSpec"]
