"""Checkpoints are safetensors (weights) plus JSON (everything else). Never pickle."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from mmzoo.errors import MmzooError
from mmzoo.fsutil import atomic_write
from mmzoo.runs.folder import (
    LAST_META,
    LAST_WEIGHTS,
    META,
    WEIGHTS,
    checkpoint_dir,
    load_meta,
    pair_matches,
    prev_path,
    read_pair,
)
from mmzoo.runs.meta import CHECKPOINT_FORMAT, RunMeta

__all__ = [
    "CHECKPOINT_FORMAT",
    "LAST_META",
    "LAST_WEIGHTS",
    "META",
    "WEIGHTS",
    "checkpoint_dir",
    "load",
    "load_meta",
    "save",
]


def _detached(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share storage (tied weights)
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def save(directory: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], last: bool = False) -> None:
    """Write weights first, then the JSON that carries their sha256; each atomically."""
    weights, meta_name = (LAST_WEIGHTS, LAST_META) if last else (WEIGHTS, META)
    data = save_tensors(_detached(tensors))
    meta = {**meta, "weights_sha256": hashlib.sha256(data).hexdigest()}
    target, prev = directory / weights, prev_path(directory / weights)
    # Keep the old half of the pair until the JSON moves on (see load); a `.prev` left by a
    # crash that is the only match for the JSON on disk is kept as it is.
    if target.exists() and not (prev.exists() and not pair_matches(target, directory / meta_name)):
        prev.unlink(missing_ok=True)
        try:
            os.link(target, prev)
        except OSError:
            shutil.copyfile(target, prev)
    atomic_write(target, data)
    atomic_write(directory / meta_name, (json.dumps(meta, indent=2) + "\n").encode())
    prev.unlink(missing_ok=True)


def load(path: Path, last: bool = False) -> tuple[dict[str, torch.Tensor], RunMeta]:
    """(tensors, meta) from a run folder, its model.json or its model.safetensors."""
    tensors, meta, _ = load_target(path, last)
    return tensors, meta


def load_target(target: str | Path, last: bool = False) -> tuple[dict[str, torch.Tensor], RunMeta, Path]:
    """(tensors, meta, run folder) of a target: a run folder, a checkpoint file or a model
    name (its newest run). The bytes are checked against the JSON's sha256 by
    runs.folder.read_pair; here they become tensors, which must be finite."""
    meta, data, weights = read_pair(target, last)
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError) as exc:
        raise MmzooError(f"{weights} is damaged: {exc}") from None
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise MmzooError(f"{weights} holds NaN or infinite weights ({', '.join(bad[:3])})")
    return tensors, meta, weights.parent
