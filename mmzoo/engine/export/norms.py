"""Which normalisation a network uses, for the export summary and metadata: only
BatchNorm has anything to fold; LayerNorm and GroupNorm normalise each example by
itself, the same in training and sampling, and export as they are."""

from __future__ import annotations

import torch.nn as nn

from mmzoo.engine.export.trace import BatchNormBase

NORM_KINDS: tuple[tuple[str, str, type[nn.Module]], ...] = (
    ("batch", "BatchNorm", BatchNormBase),
    ("layer", "LayerNorm", nn.LayerNorm),
    ("group", "GroupNorm", nn.GroupNorm),
)


def norm_kinds(model: nn.Module) -> list[str]:
    """The kinds present, in NORM_KINDS order: ['batch'], ['layer'], [] for none."""
    modules = list(model.modules())
    return [kind for kind, _, cls in NORM_KINDS if any(isinstance(m, cls) for m in modules)]


def norm_label(kinds: list[str]) -> str:
    """'batch', 'layer', 'batch+group', or 'none': the value of mmzoo.norm."""
    return "+".join(kinds) or "none"


def fold_note(kinds: list[str]) -> str:
    """What export had to do about normalisation, in words, for the summary."""
    names = [name for kind, name, _ in NORM_KINDS if kind in kinds and kind != "batch"]
    if not names:
        return "" if kinds else "no normalisation layers"
    return f"{' and '.join(names)}: nothing to fold, exported as {'they are' if len(names) > 1 else 'it is'}"
