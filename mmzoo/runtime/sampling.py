"""The sampling loop, in numpy, shared by the torch path and the onnxruntime path
so that both give the same names for the same seed.

Randomness is counter-based: the uniform number for item i at step t is a hash
of (seed, i, t), so the output does not depend on the batch size used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mmzoo.errors import MmzooError


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser; uint64 arithmetic wraps, which is what it wants."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def uniform_table(seed: int, items: np.ndarray, steps: int, first_step: int = 0) -> np.ndarray:
    """uniforms[i, t] in [0, 1), float32, a pure function of (seed, item i, step t).

    The top 24 bits of the hash over 2**24: exact in float32, the dtype a generator
    file takes (docs/generate.md), so the numpy loop and the graph draw the same numbers.
    Made for a whole batch at once: at batch 1 the per-call numpy overhead, not
    the arithmetic, is what costs. `first_step` gives the columns first_step.. of the
    same table, so a long item's uniforms can be drawn a block of steps at a time.
    """
    with np.errstate(over="ignore"):
        key = _splitmix64(np.asarray([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
        per_item = _splitmix64(key ^ (items.astype(np.uint64) * np.uint64(0x100000001B3)))
        x = _splitmix64(per_item[:, None] ^ np.arange(first_step, first_step + steps, dtype=np.uint64)[None, :])
    return (x >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)


UNIFORM_BLOCK_ELEMENTS = 1 << 20  # uniforms drawn at once while sampling (B x steps): bounded temporaries
BELOW_ONE = np.nextafter(np.float32(1), np.float32(0))  # the largest float32 uniform


def choose(logits: np.ndarray, u: np.ndarray, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """Sample one token per row from softmax(logits / T), restricted to the top k.

    In float64 from float32 inputs (the temperature rounded to float32 too), exactly
    as a generator file's graph computes it (mmzoo/graphs/generate_body.py)."""
    logits = logits.astype(np.float64)
    u = np.minimum(np.asarray(u, dtype=np.float32), BELOW_ONE).astype(np.float64)  # 0.99999999 rounds to 1.0
    temperature = float(np.float32(temperature))
    if temperature != 1.0:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            scaled = logits / temperature
        if not np.isfinite(scaled[np.isfinite(logits)]).all():  # T so small it overflows: the limit is greedy
            return np.argmax(logits, axis=1).astype(np.int64)
        logits = scaled
    if top_k is not None and top_k < logits.shape[1]:
        kth = np.partition(logits, -top_k, axis=1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    cdf = np.cumsum(probs, axis=1)
    target = u * cdf[:, -1]
    picks = (cdf <= target[:, None]).sum(axis=1)
    return np.minimum(picks, logits.shape[1] - 1).astype(np.int64)


class Stepper(Protocol):
    """Gives next-token logits one position at a time, for a batch of items."""

    def start(self, batch: int) -> None: ...

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        """tokens[B] at the next position -> logits[B, V] for the position after."""
        ...


@dataclass
class SampleOptions:
    n: int = 20
    temperature: float = 1.0
    top_k: int | None = None
    prefix: str = ""
    seed: int = 0
    batch_size: int = 1000

    def check(self) -> None:
        if self.n < 0:
            raise MmzooError("-n must be >= 0")
        if not self.temperature > 0:
            raise MmzooError("--temperature must be > 0")
        if self.top_k is not None and self.top_k < 1:
            raise MmzooError("--top-k must be >= 1")
        if self.batch_size < 1:
            raise MmzooError("batch size must be >= 1")


def generate(stepper: Stepper, vocab: Sequence[str], max_length: int, options: SampleOptions) -> list[str]:
    """N items, batch by batch; all items of a batch step together, finished ones masked."""
    options.check()
    index = {c: i for i, c in enumerate(vocab) if i > 0}
    unknown = sorted({c for c in options.prefix if c not in index})
    if unknown:
        raise MmzooError(f"--prefix has characters the model never saw: {' '.join(map(repr, unknown))}")
    prefix = [index[c] for c in options.prefix]
    out: list[str] = []
    for start in range(0, options.n, options.batch_size):
        ids = np.arange(start, min(options.n, start + options.batch_size))
        out.extend(_generate_batch(stepper, vocab, max_length, options, prefix, ids))
    return out


def _generate_batch(
    stepper: Stepper, vocab: Sequence[str], max_length: int, options: SampleOptions, prefix: list[int], ids: np.ndarray
) -> list[str]:
    B = len(ids)
    stepper.start(B)
    logits = stepper.feed(np.zeros(B, dtype=np.int64))  # the leading boundary token
    for token in prefix:
        logits = stepper.feed(np.full(B, token, dtype=np.int64))
    # Filled column by column in a buffer that doubles when full: linear in the item length
    # (growing it with np.concatenate every step was quadratic), and sized by the items
    # drawn, not by max_length; the uniforms come a block of steps at a time, so
    # max_length 100001 never means a [B, 100001] table up front.
    generated = np.zeros((B, min(max_length, 64)), dtype=np.uint16 if len(vocab) <= 1 << 16 else np.int64)
    done = np.zeros(B, dtype=bool)
    block = max(1, min(max_length, UNIFORM_BLOCK_ELEMENTS // B))
    length = 0
    for step in range(max_length):
        if step % block == 0:
            u = uniform_table(options.seed, ids, min(block, max_length - step), step)
        picks = choose(logits, u[:, step % block], options.temperature, options.top_k)
        picks[done] = 0
        if step == generated.shape[1]:
            wider = np.zeros((B, min(max_length, 2 * step)), dtype=generated.dtype)
            wider[:, :step] = generated
            generated = wider
        generated[:, step] = picks
        length = step + 1
        done |= picks == 0
        if done.all():
            break
        logits = stepper.feed(picks)
    results = []
    for row in generated[:, :length]:
        end = np.flatnonzero(row == 0)
        row = row[: end[0]] if len(end) else row
        results.append(options.prefix + "".join(vocab[i] for i in row))
    return results


def novelty(samples: list[str], splits: dict[str, list[str]]) -> dict[str, int]:
    """How many samples are training items, val/test items, or new (as makemore reports)."""
    train = set(splits["train"])
    held_out = set(splits["val"]) | set(splits["test"])
    counts = {"train": 0, "val_test": 0, "new": 0}
    for s in samples:
        counts["train" if s in train else "val_test" if s in held_out else "new"] += 1
    return counts
