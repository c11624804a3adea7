"""A run's corpus, found again: where model.json (or last.json) says it was, or where
the user points with --data, and only if its sha256 is still the run's. The one place
export, eval, sample's novelty line, resume and the test kit get a run's data from."""

from __future__ import annotations

from pathlib import Path

from mmzoo.corpus import DEFAULT_MAX_ITEM_LENGTH, TrainingCorpus, load_corpus
from mmzoo.errors import MmzooError
from mmzoo.runs.meta import RunMeta


def run_corpus(meta: RunMeta, max_item_length: int | None = None, source: str | None = None) -> TrainingCorpus:
    """The corpus `meta` was trained on: a token store if it was streamed, else its items
    (up to the longer of `max_item_length` and the run's own longest item)."""
    where = source or meta.data.source
    if meta.data.streamed:
        from mmzoo.corpus.store import open_store

        corpus: TrainingCorpus = open_store(Path(where))
    else:
        corpus = load_corpus(where, max(max_item_length or DEFAULT_MAX_ITEM_LENGTH, meta.max_length))
    if corpus.sha256 != meta.data.sha256:
        raise MmzooError(f"{corpus.source} has changed since the run was trained (its sha256 differs)")
    return corpus
