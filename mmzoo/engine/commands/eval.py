"""`mmzoo eval`: the shared per-character loss on a run's splits or on another file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmzoo.errors import MmzooError

if TYPE_CHECKING:
    from mmzoo.corpus import Vocab


def evaluate(
    target: str,
    data: str | None,
    max_item_length: int | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    from mmzoo.corpus import load_corpus, read_items
    from mmzoo.engine.data.batches import tensorize
    from mmzoo.engine.devices import resolve_device
    from mmzoo.engine.loss import split_loss
    from mmzoo.engine.opened_run import open_run

    where = resolve_device(device)  # a bad --device fails before any loading
    run = open_run(target, threads)
    run.model.to(where)  # split_loss sends each chunk to the model's device
    if data is None:
        named = run.eval_data(max_item_length)  # a streamed corpus: each split on a capped uniform sample
    else:
        path = Path(data)
        items = read_items(path, max_item_length)[0] if path.exists() else load_corpus(data, max_item_length).items
        _check_chars(items, run.vocab, data)
        length = max(max(len(i) for i in items) + 1, 2)
        named = {path.name: (len(items), tensorize(items, run.vocab, length, run.model))}
    losses = {name: {"items": n, "loss": split_loss(run.model, t.x, t.y)} for name, (n, t) in named.items()}
    return {"model": run.meta.model, "run": str(run.directory), "losses": losses}


def _check_chars(items: list[str], vocab: Vocab, source: str) -> None:
    known = set(vocab.chars[1:])
    unseen = sorted({c for item in items for c in item} - known)
    if unseen:
        raise MmzooError(f"{source} has characters the model never saw: {' '.join(map(repr, unseen))}")
