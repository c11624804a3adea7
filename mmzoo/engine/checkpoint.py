"""Checkpoints are safetensors (weights) plus JSON (everything else). Never pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from mmzoo.errors import MmzooError
from mmzoo.fsutil import atomic_write

WEIGHTS = "model.safetensors"
META = "model.json"
LAST_WEIGHTS = "last.safetensors"  # model + optimizer + rng, for --resume
LAST_META = "last.json"
CHECKPOINT_FORMAT = 1
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"}


def _detached(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share storage (tied weights)
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def save(directory: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], last: bool = False) -> None:
    """Write weights first, then the JSON that points at them; each atomically."""
    weights, meta_name = (LAST_WEIGHTS, LAST_META) if last else (WEIGHTS, META)
    atomic_write(directory / weights, save_tensors(_detached(tensors)))
    atomic_write(directory / meta_name, (json.dumps(meta, indent=2) + "\n").encode())


def load(path: Path, last: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) from a run folder, its model.json or its model.safetensors."""
    directory = checkpoint_dir(path)
    weights, meta_name = (LAST_WEIGHTS, LAST_META) if last else (WEIGHTS, META)
    try:
        meta = json.loads((directory / meta_name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MmzooError(f"{directory} has no {meta_name}: not an mmzoo run") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MmzooError(f"{directory / meta_name} is damaged: {exc}") from None
    try:
        tensors = load_tensors((directory / weights).read_bytes())
    except FileNotFoundError:
        raise MmzooError(f"{directory} has no {weights}") from None
    except (SafetensorError, ValueError) as exc:
        raise MmzooError(f"{directory / weights} is damaged: {exc}") from None
    if not isinstance(meta, dict) or meta.get("checkpoint_format") != CHECKPOINT_FORMAT:
        raise MmzooError(f"{directory / meta_name} is not an mmzoo checkpoint (format {CHECKPOINT_FORMAT})")
    return tensors, meta


def checkpoint_dir(path: Path) -> Path:
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES or _looks_pickled(path):
        raise MmzooError(f"{path} looks like a pickle file: mmzoo never unpickles; use a run with {WEIGHTS}")
    if path.is_dir():
        return path
    if path.name in (WEIGHTS, META, LAST_WEIGHTS, LAST_META):
        return path.parent
    if path.exists():
        raise MmzooError(f"{path} is not an mmzoo run folder, {META} or {WEIGHTS}")
    raise MmzooError(f"no such run or checkpoint: {path}")


def _looks_pickled(path: Path) -> bool:
    """Pickle protocol 2+ starts with 0x80; torch.save's zip starts with PK."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(2)
    return head[:1] == b"\x80" or head == b"PK"
