"""Apply mmzoo.threads' choice to torch: called once at the start of every torch
command body (train, eval, export, diagnose, torch-path sample)."""

from __future__ import annotations

from typing import Any

import torch

from mmzoo.datasets import BUILTIN_VOCAB_SIZE
from mmzoo.threads import choose_threads


def use_threads(explicit: int | None, params: int | None) -> int:
    """Set torch's intra-op thread count for a model of `params` parameters."""
    n, _ = choose_threads(params, explicit)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def params_of(spec: Any, config: Any, vocab_size: int) -> int | None:
    """The parameter count of spec's network at `config`: the declared one for the
    default config and vocabulary, else by building it once (a few ms for these
    models; the meta device would cost a 2 s one-time warm-up); None if that fails."""
    if spec.params is not None and config == spec.config() and vocab_size == BUILTIN_VOCAB_SIZE:
        return int(spec.params)
    try:
        with torch.no_grad():
            model = spec.create(config, vocab_size)
        return sum(p.numel() for p in model.parameters())
    except Exception:
        return None
