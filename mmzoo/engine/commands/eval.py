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
    from mmzoo.corpus import DEFAULT_MAX_ITEM_LENGTH, Vocab, load_corpus, read_items, split_items
    from mmzoo.engine.batches import tensorize
    from mmzoo.engine.devices import resolve_device
    from mmzoo.engine.loss import split_loss
    from mmzoo.engine.runs import load_run, resolve
    from mmzoo.engine.threads import use_threads
    from mmzoo.engine.token_batches import eval_samples

    where = resolve_device(device)  # a bad --device fails before any loading
    run = load_run(resolve(target))
    run.model.to(where)  # split_loss sends each chunk to the model's device
    use_threads(threads, run.meta.get("params"))
    vocab = Vocab(tuple(run.meta["vocab"]))
    sampled = eval_samples(run.meta, run.model) if data is None else None
    if sampled is not None:  # a streamed corpus: each split on a capped uniform sample
        losses = {k: {"items": n, "loss": split_loss(run.model, t.x, t.y)} for k, (n, t) in sampled.items()}
        return {"model": run.meta["model"], "run": str(run.directory), "losses": losses}
    if data is not None:
        path = Path(data)
        items = read_items(path, max_item_length)[0] if path.exists() else load_corpus(data, max_item_length).items
        _check_chars(items, vocab, data)
        named = {Path(data).name: items}
    else:
        limit = max(max_item_length or DEFAULT_MAX_ITEM_LENGTH, run.meta["max_length"])
        corpus = load_corpus(run.meta["data"]["source"], limit)
        if corpus.sha256 != run.meta["data"]["sha256"]:
            raise MmzooError(f"{corpus.source} changed since training; pass --data to evaluate on a file")
        named = split_items(corpus.items, run.meta["split"]["seed"])
    losses = {}
    for name, items in named.items():
        length = max(max(len(i) for i in items) + 1, 2)
        t = tensorize(items, vocab, length, run.model)
        losses[name] = {"items": len(items), "loss": split_loss(run.model, t.x, t.y)}
    return {"model": run.meta["model"], "run": str(run.directory), "losses": losses}


def _check_chars(items: list[str], vocab: Vocab, source: str) -> None:
    known = set(vocab.chars[1:])
    unseen = sorted({c for item in items for c in item} - known)
    if unseen:
        raise MmzooError(f"{source} has characters the model never saw: {' '.join(map(repr, unseen))}")
