"""A run folder opened once: its checked metadata, its network, its vocabulary and,
on demand, the data it was trained on. Export, eval, sample, resume, diagnose and the
plugin test kit take an OpenedRun; none of them reads the JSON or rebuilds a corpus."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn as nn

from mmzoo.corpus import Corpus, Vocab, split_items
from mmzoo.engine import checkpoint
from mmzoo.engine.data.batches import SplitTensors, tensorize
from mmzoo.errors import MmzooError
from mmzoo.runs.data import run_corpus
from mmzoo.runs.meta import RunMeta
from mmzoo.runs.spec import spec_of_run
from mmzoo.threads import choose_threads


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

    def corpus(self, max_item_length: int | None = None) -> Corpus:
        """The in-memory corpus the run was trained on, if it is still where it was and
        unchanged (mmzoo/runs/data.py); an error saying why not otherwise."""
        return cast(Corpus, run_corpus(self.meta, max_item_length))

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
        train = tensorize(splits["train"], self.vocab, self.meta.max_length, self.model)
        val = tensorize(splits["val"], self.vocab, self.meta.max_length, self.model)
        return train, val, splits["train"]

    def eval_data(self, max_item_length: int | None = None) -> dict[str, tuple[int, SplitTensors]]:
        """(items, tensors) of each split; a streamed corpus gives capped samples."""
        from mmzoo.engine.data.token_batches import eval_samples

        if self.streamed:
            return eval_samples(self.meta, self.model)
        named = self.split_items(max_item_length)
        return {name: (len(items), self.tensors(items)) for name, items in named.items()}


def open_run(target: str | Path, threads: int | None = None, spec: Any = None) -> OpenedRun:
    """A run folder, checkpoint file or model name (its newest run), opened: its weights
    loaded into its network, and torch's threads set for its size (mmzoo.threads).
    `spec` overrides the installed plugins' (the test kit checks a plugin not installed)."""
    tensors, meta, directory = checkpoint.load_target(target)
    spec = spec or spec_of_run(directory, meta)
    try:
        model = spec.create(spec.config(**meta.config), len(meta.vocab))
    except TypeError as exc:
        raise MmzooError(f"{directory}: config does not fit this version of {spec.name}: {exc}") from None
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise MmzooError(
            f"{directory}: weights do not fit {spec.name}: {first[1] if len(first) > 1 else first[0]}"
        ) from None
    model.eval()
    n, _ = choose_threads(meta.params, threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return OpenedRun(directory, meta, model)
