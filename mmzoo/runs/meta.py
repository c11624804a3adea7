"""model.json and last.json checked before anything is built from them (torch-free).

A checkpoint's JSON decides what network is built, how many tokens a sample may
have and which weights are trusted; a missing key, a wrong type or a huge number
must be one clear error, never a KeyError or a giant allocation later on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmzoo.checks import MAX_CONTEXT, MAX_ITEM_LIMIT, check_vocab, need_dict, need_int, need_str
from mmzoo.contract import MODES
from mmzoo.errors import MmzooError

CHECKPOINT_FORMAT = 1
MAX_META_BYTES = 64 << 20


def parse_meta(text: bytes | str, source: Path, last: bool = False) -> RunMeta:
    """The checked model.json (or last.json when `last`), parsed."""
    if len(text) > MAX_META_BYTES:
        raise MmzooError(f"{source} is too large for a checkpoint's JSON ({len(text)} bytes)")
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MmzooError(f"{source} is damaged: {str(exc)[:80]}") from None
    try:
        return RunMeta.from_doc(check_meta(meta, last))
    except MmzooError as exc:
        raise MmzooError(f"{source} is damaged: {exc}") from None


def check_meta(meta: Any, last: bool = False) -> dict[str, Any]:
    if not isinstance(meta, dict) or meta.get("checkpoint_format") != CHECKPOINT_FORMAT:
        raise MmzooError(f"not an mmzoo checkpoint (format {CHECKPOINT_FORMAT})")
    need_str(meta.get("model"), "model")
    need_dict(meta.get("config"), "config")
    check_vocab(meta.get("vocab"), controls=True)
    need_int(meta.get("context_length"), 1, MAX_CONTEXT, "context_length")
    if meta.get("input_mode") not in MODES:
        raise MmzooError(f"input_mode must be one of {', '.join(MODES)}, got {str(meta.get('input_mode'))[:40]!r}")
    need_int(meta.get("max_length"), 2, MAX_ITEM_LIMIT + 1, "max_length")
    data = need_dict(meta.get("data"), "data")
    need_str(data.get("source"), "data.source")
    need_str(data.get("sha256"), "data.sha256")
    split = need_dict(meta.get("split"), "split")
    need_int(split.get("seed"), 0, 2**63 - 1, "split.seed")
    need_str(meta.get("weights_sha256"), "weights_sha256")
    need_dict(meta.get("metrics"), "metrics")
    if last:
        _check_last(meta)
    return meta


def _check_last(meta: dict[str, Any]) -> None:
    """What --resume reads besides the model's own keys."""
    need_dict(meta.get("recipe"), "recipe")
    need_int(meta.get("step"), 0, 2**62, "step")
    best = meta.get("best_val_loss")
    if not isinstance(best, (int, float)) or isinstance(best, bool) or math.isnan(best):
        raise MmzooError("best_val_loss must be a number")
    metrics = meta["metrics"]
    for key in ("train_loss", "train_seconds"):
        if not isinstance(metrics.get(key), (int, float)) or isinstance(metrics.get(key), bool):
            raise MmzooError(f"metrics.{key} must be a number")
    optimizer = need_dict(meta.get("optimizer"), "optimizer")
    if optimizer and not isinstance(optimizer.get("param_groups"), list):
        raise MmzooError("optimizer.param_groups must be a list")


@dataclass(frozen=True)
class DataRef:
    """Where a run's corpus was and what it was: found again only if its sha256 matches."""

    source: str
    sha256: str
    streamed: bool = False  # trained from a token store (mmzoo.corpus.store)
    items: int | None = None


@dataclass(frozen=True)
class RunMeta:
    """A run's model.json (or last.json), checked and parsed once. Commands read these
    fields, never the JSON; `doc` is the document as written, for what passes it on."""

    model: str
    plugin: str
    plugin_version: str
    config: dict[str, Any]
    vocab: tuple[str, ...]
    context_length: int
    input_mode: str
    max_length: int
    data: DataRef
    split_seed: int
    params: int | None
    metrics: dict[str, Any]
    weights_sha256: str
    mmzoo_version: str
    doc: dict[str, Any] = field(repr=False, compare=False)
    # last.json only: what --resume continues from
    recipe: dict[str, Any] | None = None
    step: int | None = None
    best_val_loss: float | None = None
    optimizer: dict[str, Any] | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RunMeta:
        """From a document check_meta accepted."""
        data, params = doc["data"], doc.get("params")
        return cls(
            model=doc["model"],
            plugin=str(doc.get("plugin") or ""),
            plugin_version=str(doc.get("plugin_version") or ""),
            config=doc["config"],
            vocab=tuple(doc["vocab"]),
            context_length=doc["context_length"],
            input_mode=doc["input_mode"],
            max_length=doc["max_length"],
            data=DataRef(
                source=data["source"],
                sha256=data["sha256"],
                streamed=bool(data.get("streamed")),
                items=data.get("items") if isinstance(data.get("items"), int) else None,
            ),
            split_seed=doc["split"]["seed"],
            params=params if isinstance(params, int) and not isinstance(params, bool) else None,
            metrics=doc["metrics"],
            weights_sha256=doc["weights_sha256"],
            mmzoo_version=str(doc.get("mmzoo_version") or ""),
            doc=doc,
            recipe=doc.get("recipe"),
            step=doc.get("step"),
            best_val_loss=doc.get("best_val_loss"),
            optimizer=doc.get("optimizer"),
        )
