"""Sampling from a generator file (`mmzoo.input` = `generate`): one onnxruntime call per
batch, whole items out. onnxruntime and numpy only, never torch.

The uniforms are mmzoo.runtime.sampling.uniform_table's, so a generator file gives the same
items as the step/window/sequence file it was made from, for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mmzoo.errors import MmzooError
from mmzoo.runtime.sampling import SampleOptions, uniform_table

TABLE_ROWS = 4096  # items whose uniforms are drawn in one numpy call
TABLE_ELEMENTS = 1 << 22  # ... and at most this many uniforms (16 MB of float32)


def decode(tokens: np.ndarray, vocab: Sequence[str]) -> list[str]:
    """tokens[B, L]: each row an item, then 0s (the boundary token) to the end."""
    out = []
    for row in tokens.tolist():
        try:
            row = row[: row.index(0)]
        except ValueError:  # cut off at max_length
            pass
        out.append("".join(map(vocab.__getitem__, row)))
    return out


def scalars(temperature: float, top_k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The generator's temperature and top_k inputs (0 = top-k off)."""
    # top_k beyond int64 (--top-k 99999999999999999999) means what any k >= the vocab means: off
    k = 0 if top_k is None or top_k > np.iinfo(np.int64).max else top_k
    return np.array(temperature, dtype=np.float32), np.array(k, dtype=np.int64)


def feeds(uniforms: np.ndarray, temperature: np.ndarray, top_k: np.ndarray) -> dict[str, np.ndarray]:
    return {"uniforms": np.ascontiguousarray(uniforms, dtype=np.float32), "temperature": temperature, "top_k": top_k}


def generate_with_file(model: Any, options: SampleOptions) -> list[str]:
    """N items from a generator file (an mmzoo.runtime.OnnxModel), batch by batch."""
    options.check()
    if options.prefix:
        raise MmzooError(
            "a generator file starts every item at the boundary token: use the step/window file for --prefix"
        )
    meta = model.metadata
    out: list[str] = []
    # Every call takes uniforms [B, max_length] whole: B shrinks for long items, so that
    # max_length 100001 costs a few MB per call, not gigabytes (the items do not depend on B).
    B = max(1, min(options.batch_size, TABLE_ELEMENTS // meta.max_length))
    chunk = B * max(1, min(TABLE_ROWS, TABLE_ELEMENTS // meta.max_length) // B)  # many small batches at once
    temperature, top_k = scalars(options.temperature, options.top_k)  # made once: at batch 1 every us counts
    from mmzoo.runtime import run_session  # here: mmzoo.runtime imports this module lazily

    session = model.session_for(min(B, max(1, options.n)))  # -n 20: the batch hint's session, not a 2nd one
    for first in range(0, options.n, chunk):
        ids = np.arange(first, min(options.n, first + chunk))
        table = uniform_table(options.seed, ids, meta.max_length)  # [items, max_length] float32
        for start in range(0, len(ids), B):
            u = table[start : start + B]
            run = session if len(u) == B else model.session_for(len(u))
            tokens = run_session(run, ["tokens"], feeds(u, temperature, top_k), model.path)[0]
            out.extend(decode(tokens, meta.vocab))
    return out
