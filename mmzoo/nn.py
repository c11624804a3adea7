"""The building blocks plugin authors may use (public API, docs/plugins.md).
They live in mmzoo.models.blocks with the networks that use them."""

from mmzoo.models.blocks import BatchNorm, WindowModel, check_length, kaiming_, param_count

__all__ = ["BatchNorm", "WindowModel", "check_length", "kaiming_", "param_count"]
