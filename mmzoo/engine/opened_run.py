"""A run folder opened once: its checked metadata, its network, its vocabulary and,
on demand, the data it was trained on. Export, eval, sample, resume, diagnose and the
plugin test kit take an OpenedRun; none of them reads the JSON or rebuilds a corpus."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch.nn as nn

from mmzoo.corpus import DEFAULT_MAX_ITEM_LENGTH, Corpus, Vocab, split_items
from mmzoo.engine import checkpoint
from mmzoo.engine.data.batches import SplitTensors, tensorize
from mmzoo.errors import MmzooError
from mmzoo.runs.find import resolve, spec_of_run
from mmzoo.runs.meta import RunMeta


@dataclass
class OpenedRun:
    directory: Path
    meta: RunMeta
    model: nn.Module  # in eval mode

    @cached_property
    def vocab(self) -> Vocab:
        return Vocab(self.meta.vocab)

    @property
    def streamed(self) -> bool:
        """Trained from a token store: its splits come as capped samples (engine/data/token_batches.py)."""
        return self.meta.data.streamed

    def use_threads(self, threads: int | None) -> int:
        """Apply the thread policy for this run's network size (mmzoo.threads)."""
        from mmzoo.engine.threads import use_threads

        return use_threads(threads, self.meta.params)

    def corpus(self, max_item_length: int | None = None) -> Corpus:
        """The in-memory corpus the run was trained on, if it is still where it was and
        unchanged; an error saying why not otherwise."""
        from mmzoo.corpus import load_corpus

        limit = max(max_item_length or DEFAULT_MAX_ITEM_LENGTH, self.meta.max_length)
        corpus = load_corpus(self.meta.data.source, limit)
        if corpus.sha256 != self.meta.data.sha256:
            raise MmzooError(f"{corpus.source} changed since training: the run's splits cannot be rebuilt")
        return corpus

    def split_items(self, max_item_length: int | None = None) -> dict[str, list[str]]:
        """train/val/test items, exactly as training split them."""
        return split_items(self.corpus(max_item_length).items, self.meta.split_seed)

    def training_splits(self) -> dict[str, list[str]] | None:
        """The splits if the corpus is still there and unchanged, else None (for the
        novelty line, which is a nicety, not a requirement)."""
        if self.streamed:
            return None
        try:
            return self.split_items()
        except MmzooError:
            return None

    def tensors(self, items: list[str]) -> SplitTensors:
        """Items as this run's model reads them (windows or padded sequences)."""
        return tensorize(items, self.vocab, self.meta.max_length, self.model)

    def export_data(self) -> tuple[SplitTensors, SplitTensors, list[str] | None]:
        """(train, val, the train items) for calibration and export's checks; a streamed
        corpus gives capped samples and no item list."""
        from mmzoo.engine.data.token_batches import export_splits

        if self.streamed:
            train, val = export_splits(self.meta, self.model)
            return train, val, None
        splits = self.split_items()
        return self.tensors(splits["train"]), self.tensors(splits["val"]), splits["train"]

    def eval_data(self, max_item_length: int | None = None) -> dict[str, tuple[int, SplitTensors]]:
        """(items, tensors) of each split; a streamed corpus gives capped samples."""
        from mmzoo.engine.data.token_batches import eval_samples

        if self.streamed:
            return eval_samples(self.meta, self.model)
        named = self.split_items(max_item_length)
        return {name: (len(items), self.tensors(items)) for name, items in named.items()}


def build_model(spec: Any, meta: RunMeta, directory: Path) -> nn.Module:
    """The network a run's metadata describes, untrained."""
    try:
        config = spec.config(**meta.config)
    except TypeError as exc:
        raise MmzooError(f"{directory}: config does not fit this version of {spec.name}: {exc}") from None
    return spec.create(config, len(meta.vocab))


def open_run(target: str | Path, spec: Any = None) -> OpenedRun:
    """A run folder, checkpoint file or model name (its newest run), opened. `spec`
    overrides the installed plugins' (the test kit checks a plugin not installed yet)."""
    directory = resolve(str(target))
    tensors, meta = checkpoint.load(directory)
    spec = spec or spec_of_run(directory, meta)
    model = build_model(spec, meta, directory)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise MmzooError(
            f"{directory}: weights do not fit {spec.name}: {first[1] if len(first) > 1 else first[0]}"
        ) from None
    model.eval()
    return OpenedRun(directory, meta, model)
