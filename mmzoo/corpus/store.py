"""A corpus of millions of lines in bounded memory: torch-free (numpy only).

The corpus becomes a flat array of token ids (uint8, uint16 or uint32, the
narrowest that holds the vocabulary) plus item offsets (uint32; int64 past 4G
characters): item i is tokens[offsets[i]:offsets[i+1]], without boundaries. It
is built in one streaming pass over the file and cached under
$XDG_CACHE_HOME/mmzoo/corpora/<sha256 of the file>/, so a second run
memory-maps it and starts at once. The items, the vocabulary and the split are
exactly those of `mmzoo.corpus` (read_items, Vocab.from_items, split_items): the
same file trains the same model either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from array import array
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np

from mmzoo.contract import BOUNDARY, SPLIT_FRACTIONS
from mmzoo.corpus import TrainingCorpus, Vocab
from mmzoo.errors import MmzooError
from mmzoo.fsutil import check_regular

STORE_FORMAT = 3  # 3: meta.json carries arrays_sha256
CHUNK_BYTES = 4 << 20  # bytes decoded at a time while building
HASH_BYTES = 8 << 20
# Files at least this big are streamed into the store; smaller ones load as a list of
# strings, as before. MMZOO_STREAM_MIN_BYTES overrides it (0: always stream).
STREAM_MIN_BYTES = 4 << 20
SPLITS = ("train", "val", "test")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mmzoo" / "corpora"


def stream_min_bytes() -> int:
    value = os.environ.get("MMZOO_STREAM_MIN_BYTES")
    if value is None:
        return STREAM_MIN_BYTES
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise MmzooError(f"MMZOO_STREAM_MIN_BYTES must be a whole number of bytes >= 0, got {value!r}")
    return number


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BYTES):
            digest.update(block)
    return digest.hexdigest()


def split_bounds(n: int) -> tuple[int, int]:
    """Where val and test start in the shuffled order: split_items's arithmetic."""
    train, val, _ = SPLIT_FRACTIONS
    return int(train * n), int(round(train + val, 9) * n)


def shuffled_indices(n: int, seed: int) -> np.ndarray:
    """random.Random(seed).shuffle of 0..n-1: the permutation split_items applies to the
    items (shuffle only reads the length and swaps), held in a compact array."""
    order = array("I" if n < 2**32 else "q", range(n))
    random.Random(seed).shuffle(order)
    return np.frombuffer(order, dtype=np.uint32 if order.typecode == "I" else np.int64)


def index_dtype(largest: int) -> np.dtype:
    """uint32 for offsets up to 4G (half the memory of int64), int64 beyond."""
    return np.dtype(np.uint32 if largest < 2**32 else np.int64)


def token_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned type that holds ids 0..vocab_size-1."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if vocab_size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    raise MmzooError(f"a vocabulary of {vocab_size} characters is too large")


@dataclass
class TokenStore:
    """A built or cached corpus: flat tokens, item offsets and its characters."""

    tokens: np.ndarray  # [total chars], ids 1..V-1 (0, the boundary, never stored)
    offsets: np.ndarray  # [items + 1], uint32 (int64 past 4G characters)
    chars: tuple[str, ...]  # the vocabulary without the boundary, sorted
    sha256: str
    source: str
    directory: Path | None = None
    longest: int | None = None  # the longest item, when meta.json knows it
    streamed: ClassVar[bool] = True

    def item_list(self) -> list[str] | None:
        return None  # millions of lines never become strings

    @property
    def vocab(self) -> Vocab:
        return Vocab((BOUNDARY, *self.chars))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def max_length(self) -> int:
        """Longest item + 1, as Corpus.max_length."""
        return (self.longest if self.longest is not None else longest_item(self.offsets)) + 1

    def item(self, i: int) -> str:
        return self.vocab.decode(self.tokens[self.offsets[i] : self.offsets[i + 1]].tolist())

    def split(self, seed: int) -> dict[str, np.ndarray]:
        """Item indices of train, val and test, in split_items's order; cached beside the store."""
        order = self._shuffled(seed)
        n1, n2 = split_bounds(len(self))
        return {"train": order[:n1], "val": order[n1:n2], "test": order[n2:]}

    def window_counts(self, seed: int) -> np.ndarray:
        """cum[k] = sum over the first k train items of (length + 1): where each item's
        (context, next char) examples start when the train split is read as windows."""
        path = None if self.directory is None else self.directory / f"split-{seed}-windows.npy"
        train = self.split(seed)["train"]
        if path is not None and path.is_file():
            cached = _load_npy(path)
            if cached is not None and cached.shape == (len(train) + 1,) and cached.dtype.kind in "ui":
                return cached  # a damaged file is rebuilt below
        total_windows = len(self.tokens) + len(self)  # an upper bound: every item's chars + 1
        cum = np.zeros(len(train) + 1, dtype=index_dtype(total_windows))
        total = 0
        for start in range(0, len(train), 1 << 20):  # in chunks: bounded temporaries
            items = np.asarray(train[start : start + (1 << 20)], dtype=np.int64)
            counts = self.offsets[items + 1] - self.offsets[items] + 1
            np.cumsum(counts, out=cum[start + 1 : start + 1 + len(items)], dtype=cum.dtype)
            cum[start + 1 : start + 1 + len(items)] += total
            total = int(cum[start + len(items)])
        if path is not None:
            _save_npy(path, cum)
        return cum

    def _shuffled(self, seed: int) -> np.ndarray:
        if self.directory is None:
            return shuffled_indices(len(self), seed)
        path = self.directory / f"split-{seed}.npy"
        if path.is_file():
            cached = _load_npy(path)
            n = len(self)
            if cached is not None and cached.shape == (n,) and cached.dtype.kind in "ui":
                if n == 0 or (int(cached.min()) >= 0 and int(cached.max()) < n):
                    return cached  # else damaged: made again below
        order = shuffled_indices(len(self), seed)
        _save_npy(path, order)
        return order


def longest_item(offsets: np.ndarray, step: int = 1 << 20) -> int:
    """max(offsets[i+1] - offsets[i]), in chunks: no [items] temporary."""
    longest = 0
    for start in range(0, len(offsets) - 1, step):
        longest = max(longest, int(np.diff(offsets[start : start + step + 1]).max()))
    return longest


def _load_npy(path: Path) -> np.ndarray | None:
    """A cached array, memory-mapped, or None if it cannot be read as one (never unpickled)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None


def _save_npy(path: Path, data: np.ndarray) -> None:
    """np.save to a temp name in the same folder, then rename: never a half-written cache."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_store(path: Path, cache: Path | None = None) -> TokenStore:
    """The store of a text file: memory-mapped from the cache, or built and cached."""
    path = Path(path)
    _check_readable(path)
    source = str(path.resolve())  # absolute, as load_corpus: model.json stores it
    digest = file_sha256(path)
    folder = (cache or cache_root()) / digest
    store = _load_cached(folder, digest, source)
    if store is not None:
        return store
    tokens, offsets, chars = build_arrays(path)
    shutil.rmtree(folder, ignore_errors=True)  # a damaged or older cache: replaced
    _write_cache(folder, tokens, offsets, chars)
    cached = _load_cached(folder, digest, source)
    return cached or TokenStore(tokens, offsets, chars, digest, source)


def _check_readable(path: Path) -> None:
    check_regular(path)  # a device or a FIFO is refused: neither hashing nor building would end


def _load_cached(folder: Path, digest: str, source: str) -> TokenStore | None:
    """The cached store, or None (absent, of another format, or inconsistent): rebuild.

    The cache is a file like any other: its meta.json and arrays are checked against
    each other (shapes, types, offsets rising from 0 to the token count, ids inside the
    vocabulary) before anything is indexed by them."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            return None
        tokens = np.load(folder / "tokens.npy", mmap_mode="r", allow_pickle=False)
        offsets = np.load(folder / "offsets.npy", mmap_mode="r", allow_pickle=False)
        chars, longest = meta.get("chars"), meta.get("longest")
        if not isinstance(chars, list) or not _consistent(tokens, offsets, chars, longest):
            return None
        if meta.get("arrays_sha256") != _arrays_sha256(tokens, offsets, chars):
            return None
    except (OSError, ValueError, TypeError):
        return None  # absent or damaged: rebuild
    return TokenStore(tokens, offsets, tuple(chars), digest, source, folder, longest)


def _arrays_sha256(tokens: np.ndarray, offsets: np.ndarray, chars: list[str]) -> str:
    """Of the arrays and the characters together: a cache damaged or edited after it was
    written (the folder's name is only the text file's hash) no longer matches."""
    digest = hashlib.sha256(json.dumps(chars).encode("utf-8"))
    for array_ in (tokens, offsets):
        digest.update(f"{array_.dtype.str}{len(array_)}".encode())
        for start in range(0, len(array_), HASH_BYTES):
            digest.update(np.ascontiguousarray(array_[start : start + HASH_BYTES]).tobytes())
    return digest.hexdigest()


def _consistent(tokens: np.ndarray, offsets: np.ndarray, chars: object, longest: object) -> bool:
    if not isinstance(chars, list) or not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
        return False
    if chars != sorted(set(chars)) or (longest is not None and (type(longest) is not int or longest < 0)):
        return False
    if tokens.ndim != 1 or offsets.ndim != 1 or len(offsets) < 2:
        return False
    if tokens.dtype.kind != "u" or offsets.dtype not in (np.dtype(np.uint32), np.dtype(np.int64)):
        return False
    if int(offsets[0]) != 0 or int(offsets[-1]) != len(tokens):
        return False
    step = 1 << 22
    for start in range(0, len(offsets) - 1, step):  # in chunks: bounded temporaries
        if (np.diff(offsets[start : start + step + 1].astype(np.int64)) < 0).any():
            return False
    for start in range(0, len(tokens), step):
        block = tokens[start : start + step]
        if len(block) and (int(block.min()) < 1 or int(block.max()) > len(chars)):
            return False
    return longest is None or longest == longest_item(offsets)


def _write_cache(folder: Path, tokens: np.ndarray, offsets: np.ndarray, chars: tuple[str, ...]) -> None:
    """Into a temp folder beside it, renamed into place: a concurrent builder loses harmlessly."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError:
        return  # a read-only cache: work from memory
    try:
        np.save(tmp / "tokens.npy", tokens)
        np.save(tmp / "offsets.npy", offsets)
        meta = {"format": STORE_FORMAT, "chars": list(chars), "items": len(offsets) - 1, "tokens": len(tokens)}
        meta["longest"] = longest_item(offsets)
        meta["arrays_sha256"] = _arrays_sha256(tokens, offsets, list(chars))
        (tmp / "meta.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
        os.rename(tmp, folder)
    except OSError:
        pass  # another process got there first, or the disk is full
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Builder:
    """Accumulates chunks of items as provisional ids (in order of first appearance),
    then renumbers them as the sorted vocabulary: one pass over the text."""

    def __init__(self, capacity: int) -> None:
        self.table = np.full(0x110000, -1, dtype=np.int32)  # code point -> provisional id
        self.codepoints: list[int] = []
        self.buf = np.empty(capacity, dtype=np.uint8)
        self.n = 0
        self.lengths: list[np.ndarray] = []

    def add(self, items: list[str]) -> None:
        if not items:
            return
        self.lengths.append(np.fromiter(map(len, items), dtype=np.int32, count=len(items)))
        cps = np.frombuffer("".join(items).encode("utf-32-le"), dtype=np.uint32)
        ids = self.table[cps]
        if (ids < 0).any():
            new = np.unique(cps[ids < 0])
            self.table[new] = np.arange(len(self.codepoints), len(self.codepoints) + len(new))
            self.codepoints.extend(new.tolist())
            ids = self.table[cps]
            if len(self.codepoints) > np.iinfo(self.buf.dtype).max + 1:
                self.buf = self.buf.astype(token_dtype(len(self.codepoints)))
        self.buf[self.n : self.n + len(ids)] = ids
        self.n += len(ids)

    def finish(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        ranks = np.argsort(np.asarray(self.codepoints, dtype=np.int64), kind="stable")
        dtype = token_dtype(len(self.codepoints) + 1)
        lut = np.empty(len(self.codepoints), dtype=dtype)
        lut[ranks] = np.arange(1, len(self.codepoints) + 1)  # id 0 is the boundary
        tokens = self.buf[: self.n] if self.buf.dtype == dtype else np.empty(self.n, dtype=dtype)
        for start in range(0, self.n, CHUNK_BYTES):
            stop = min(start + CHUNK_BYTES, self.n)
            tokens[start:stop] = lut[self.buf[start:stop]]
        offsets = np.zeros(sum(map(len, self.lengths)) + 1, dtype=index_dtype(self.n))
        at = 0
        for lengths in self.lengths:  # chunk by chunk: no concatenated copy
            np.cumsum(lengths, out=offsets[at + 1 : at + 1 + len(lengths)], dtype=offsets.dtype)
            offsets[at + 1 : at + 1 + len(lengths)] += offsets[at]
            at += len(lengths)
        self.lengths.clear()
        chars = tuple(chr(self.codepoints[i]) for i in ranks)
        return tokens, offsets, chars


def _items_of(text: str) -> list[str]:
    """read_items's rule for one chunk of whole lines."""
    return [item for item in (line.strip() for line in text.splitlines()) if item]


def build_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(tokens, offsets, chars) of a UTF-8 file, one item per line, in one streaming pass."""
    builder = _Builder(capacity=path.stat().st_size)
    carry, consumed, first = b"", 0, True
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK_BYTES)
            data = carry + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            chunk, carry = data[:cut], data[cut:]
            try:
                text = chunk.decode("utf-8-sig" if first else "utf-8")
            except UnicodeDecodeError as exc:
                bad = _line_of(path, consumed + exc.start)
                raise MmzooError(f"{path} is not UTF-8 text (bad byte on line {bad})") from None
            builder.add(_items_of(text))
            consumed += len(chunk)
            first = False
            if not block:
                break
    if builder.n == 0:
        raise MmzooError(f"{path} has no items (it is empty or only blank lines)")
    return builder.finish()


def _line_of(path: Path, byte: int) -> int:
    count = 1
    with open(path, "rb") as f:
        while byte > 0:
            block = f.read(min(HASH_BYTES, byte))
            if not block:
                break
            count += block.count(b"\n")
            byte -= len(block)
    return count


def load_training_corpus(source: str | Path | None, max_item_length: int | None = None) -> TrainingCorpus:
    """A Corpus (list of items) for a dataset name or a small file; a TokenStore for a
    file of at least stream_min_bytes(), so millions of lines never become strings.
    Either way an item longer than `max_item_length` (default 10,000) is refused."""
    from mmzoo.corpus import check_item_limit, load_corpus

    if source is not None:
        path = Path(source)
        if path.is_file() and path.stat().st_size >= stream_min_bytes():
            store = open_store(path)
            limit = check_item_limit(max_item_length)
            if store.max_length - 1 > limit:
                raise MmzooError(
                    f"{path} has an item of {store.max_length - 1:,} characters, longer than the limit of "
                    f"{limit:,}; raise it with --max-item-length if that is meant"
                )
            return store
    return load_corpus(source, max_item_length)


def split_sizes(n: int) -> dict[str, int]:
    n1, n2 = split_bounds(n)
    return {"train": n1, "val": n2 - n1, "test": n - n2}
