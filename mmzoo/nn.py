"""The building blocks plugin authors may use (public API, docs/plugins.md).
They live in mmzoo.models.blocks with the networks that use them."""

from mmzoo.models.blocks import (
    NORMS,
    BatchNorm,
    GroupNorm,
    WindowModel,
    check_length,
    kaiming_,
    make_norm,
    param_count,
    scale_head_,
)

__all__ = [
    "NORMS",
    "BatchNorm",
    "GroupNorm",
    "WindowModel",
    "check_length",
    "kaiming_",
    "make_norm",
    "param_count",
    "scale_head_",
]
