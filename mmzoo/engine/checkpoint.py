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

from mmzoo.engine.metacheck import CHECKPOINT_FORMAT, parse_meta
from mmzoo.errors import MmzooError
from mmzoo.fsutil import atomic_write

WEIGHTS = "model.safetensors"
META = "model.json"
LAST_WEIGHTS = "last.safetensors"  # model + optimizer + rng, for --resume
LAST_META = "last.json"
__all__ = ["CHECKPOINT_FORMAT", "save", "load", "load_meta", "checkpoint_dir"]
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"}


def _detached(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share storage (tied weights)
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def save(directory: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], last: bool = False) -> None:
    """Write weights first, then the JSON that carries their sha256; each atomically."""
    weights, meta_name = (LAST_WEIGHTS, LAST_META) if last else (WEIGHTS, META)
    data = save_tensors(_detached(tensors))
    meta = {**meta, "weights_sha256": hashlib.sha256(data).hexdigest()}
    target, prev = directory / weights, _prev(directory / weights)
    # Keep the old half of the pair until the JSON moves on (see load); a `.prev` left by a
    # crash that is the only match for the JSON on disk is kept as it is.
    if target.exists() and not (prev.exists() and not _pair_matches(target, directory / meta_name)):
        prev.unlink(missing_ok=True)
        try:
            os.link(target, prev)
        except OSError:
            shutil.copyfile(target, prev)
    atomic_write(target, data)
    atomic_write(directory / meta_name, (json.dumps(meta, indent=2) + "\n").encode())
    prev.unlink(missing_ok=True)


def _pair_matches(weights: Path, meta: Path) -> bool:
    try:
        want = json.loads(meta.read_text(encoding="utf-8")).get("weights_sha256")
        return hashlib.sha256(weights.read_bytes()).hexdigest() == want
    except (OSError, ValueError, AttributeError):
        return False


def _prev(weights: Path) -> Path:
    return weights.with_name(f".{weights.name}.prev")


def _read(path: Path, missing: str) -> bytes:
    """The file's bytes; `missing` is the error when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MmzooError(missing) from None
    except OSError as exc:
        raise MmzooError(f"cannot read {path}: {exc.strerror}") from None


def load_meta(path: Path, last: bool = False) -> dict[str, Any]:
    """The checked model.json (or last.json) of a run folder or checkpoint file."""
    directory = checkpoint_dir(path)
    meta_path = directory / (LAST_META if last else META)
    text = _read(meta_path, f"{directory} has no {meta_path.name}: not an mmzoo run")
    return parse_meta(text, meta_path, last)


def load(path: Path, last: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) from a run folder, its model.json or its model.safetensors.
    The weights must match the sha256 in the JSON and be finite."""
    directory = checkpoint_dir(path)
    meta = load_meta(directory, last)
    weights = directory / (LAST_WEIGHTS if last else WEIGHTS)
    data = _read(weights, f"{directory} has no {weights.name}")
    if hashlib.sha256(data).hexdigest() != meta["weights_sha256"]:
        data = _previous_half(weights, meta["weights_sha256"])
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError) as exc:
        raise MmzooError(f"{weights} is damaged: {exc}") from None
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise MmzooError(f"{weights} holds NaN or infinite weights ({', '.join(bad[:3])})")
    return tensors, meta


def _previous_half(weights: Path, sha256: str) -> bytes:
    """A crash between the two renames of `save` leaves new weights beside the old JSON;
    the old weights are still there under the `.prev` name, and they match it."""
    try:
        data = _prev(weights).read_bytes()
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise MmzooError(f"{weights} is damaged: its sha256 does not match the one in its JSON")
    return data


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
