"""Corpus, vocabulary and split: torch-free. Tensors are built once, up front,
by `mmzoo.engine.data.batches`, so the training loop never touches Python strings."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from mmzoo.checks import MAX_ITEM_LIMIT
from mmzoo.contract import BOUNDARY, SPLIT_FRACTIONS, SPLIT_SEED
from mmzoo.datasets import BUILTIN_CORPUS
from mmzoo.errors import MmzooError, UsageError
from mmzoo.fsutil import read_regular

DEFAULT_MAX_ITEM_LENGTH = 10_000  # characters; memory grows as items x longest item
MAX_CORPUS_BYTES = 1 << 30  # read into memory at once; larger files are streamed (mmzoo.corpus.store)


@dataclass(frozen=True)
class Vocab:
    """Index 0 is the boundary token; then the corpus's characters, sorted."""

    chars: tuple[str, ...]

    @classmethod
    def from_items(cls, items: list[str]) -> Vocab:
        return cls((BOUNDARY, *sorted(set("".join(items)))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        table = self._index()
        unknown = sorted({c for c in text if c not in table})
        if unknown:
            raise MmzooError(f"characters the model never saw: {' '.join(repr(c) for c in unknown)}")
        return [table[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def _index(self) -> dict[str, int]:
        # Index 0 is the boundary and never stands for a character of an item,
        # even where the corpus itself contains a '.'.
        return {c: i for i, c in enumerate(self.chars) if i > 0}


class TrainingCorpus(Protocol):
    """What training reads from a corpus: a Corpus (items in memory) or a streamed
    TokenStore (mmzoo.corpus.store) for files too large to hold as strings."""

    @property
    def source(self) -> str: ...  # a dataset name or a file path

    @property
    def sha256(self) -> str: ...  # of the file's bytes

    streamed: ClassVar[bool]  # True: splits are drawn from the store, evaluation is capped

    @property
    def vocab(self) -> Vocab: ...

    @property
    def max_length(self) -> int: ...

    def __len__(self) -> int: ...  # items

    def item_list(self) -> list[str] | None: ...  # the items as strings, if in memory


@dataclass(frozen=True)
class Corpus:
    items: list[str]
    source: str  # a dataset name or a file path
    sha256: str  # of the file's bytes
    streamed: ClassVar[bool] = False

    def __len__(self) -> int:
        return len(self.items)

    def item_list(self) -> list[str] | None:
        return self.items

    @property
    def vocab(self) -> Vocab:
        return Vocab.from_items(self.items)

    @property
    def max_length(self) -> int:
        """Longest item + 1 (its closing boundary): the most tokens a sample needs."""
        return max(len(item) for item in self.items) + 1


def read_items(path: Path, max_item_length: int | None = None) -> tuple[list[str], str]:
    """Items of a UTF-8 text file, one per line: CRLF and a BOM accepted,
    whitespace stripped, empty lines dropped. Also returns the bytes' sha256.
    A line longer than `max_item_length` is refused before any tensor is sized by it."""
    limit = check_item_limit(max_item_length)
    raw = read_regular(path, MAX_CORPUS_BYTES)  # /dev/zero or a FIFO: refused, never read or waited on
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MmzooError(f"{path} is not UTF-8 text (bad byte on line {line})") from None
    items = [line.strip() for line in text.splitlines()]
    for number, item in enumerate(items, 1):
        if len(item) > limit:
            raise MmzooError(
                f"{path} line {number} is {len(item):,} characters long, over the limit of {limit:,}; "
                f"raise it with --max-item-length if this is meant"
            )
    items = [item for item in items if item]
    if not items:
        raise MmzooError(f"{path} has no items (it is empty or only blank lines)")
    return items, hashlib.sha256(raw).hexdigest()


def check_item_limit(max_item_length: int | None) -> int:
    limit = DEFAULT_MAX_ITEM_LENGTH if max_item_length is None else max_item_length
    if not 1 <= limit <= MAX_ITEM_LIMIT:
        raise UsageError(f"--max-item-length must be between 1 and {MAX_ITEM_LIMIT:,}")
    return limit


def load_corpus(source: str | Path | None = None, max_item_length: int | None = None) -> Corpus:
    """A dataset name (`names`, or one a plugin registers) or a file path. None means `names`."""
    source = BUILTIN_CORPUS if source is None else source
    path = Path(source)
    if not path.exists() and isinstance(source, str) and "/" not in source and "." not in source:
        from mmzoo.plugins import get_zoo

        path = Path(get_zoo().dataset(source).load())
        items, digest = read_items(path, max_item_length)
        return Corpus(items, source, digest)
    items, digest = read_items(path, max_item_length)
    # Absolute: model.json stores it, and the run must find its data from any folder.
    return Corpus(items, str(path.resolve()), digest)


def split_items(items: list[str], seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """The lectures' split: shuffle with `random.seed(seed)`, then SPLIT_FRACTIONS (80/10/10)."""
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    train, val, _ = SPLIT_FRACTIONS
    n1, n2 = int(train * len(shuffled)), int(round(train + val, 9) * len(shuffled))
    return {"train": shuffled[:n1], "val": shuffled[n1:n2], "test": shuffled[n2:]}
