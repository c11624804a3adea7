"""makemore part 1 measured: `mmzoo diagnose bigram` (the count model) and the
neural bigram's section of `mmzoo diagnose bigram-nn`.

The lecture's claims are arithmetic on one V x V count matrix, so every number
here is computed from the training windows mmzoo itself trains on (the same
split, the same boundary token), never from a second reading of the corpus:
what docs/learnings.md quotes is what `mmzoo train` and `mmzoo eval` see.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mmzoo.contract import BOUNDARY
from mmzoo.corpus import Corpus, split_items
from mmzoo.engine.loss import split_loss
from mmzoo.errors import MmzooError
from mmzoo.models.bigram.model import BigramNN

UNDERFLOW_ITEMS = 300  # val items whose probabilities are multiplied in float32
# add-k values the count model is swept over to find the k that a trained neural
# bigram resembles most (L2 strength <-> fake counts) and the best k on val
K_GRID = tuple(float(k) for k in np.logspace(-3, 5, 161))


def count_matrix(x: torch.Tensor, y: torch.Tensor, V: int) -> torch.Tensor:
    """N[i, j]: how often character j follows character i in the windows (int64, V x V)."""
    return torch.bincount(x[:, -1] * V + y, minlength=V * V).view(V, V)


def zip_counts(items: list[str], chars: tuple[str, ...]) -> torch.Tensor:
    """The lecture's loop: `for a, b in zip(w, w[1:])` over '.' + word + '.'."""
    index = {c: i for i, c in enumerate(chars) if i > 0}
    pairs: Counter[tuple[int, int]] = Counter()
    for word in items:
        ids = [0, *(index[c] for c in word), 0]
        pairs.update(zip(ids, ids[1:], strict=False))
    N = torch.zeros(len(chars), len(chars), dtype=torch.int64)
    for (a, b), n in pairs.items():
        N[a, b] = n
    return N


def smoothed(N: torch.Tensor, k: float) -> torch.Tensor:
    """P = (N + k) normalised by rows, in float64; a row never seen stays uniform only if k > 0."""
    P = N.double() + k
    return P / P.sum(1, keepdim=True).clamp_min(1e-300)


def nll(P: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """-mean log P(y | x): the loss, by hand."""
    return float(-torch.log(P[x[:, -1], y]).mean())


def best_k(N: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(k, val NLL) of the K_GRID value with the lowest NLL on (x, y)."""
    losses = [(nll(smoothed(N, k), x, y), k) for k in K_GRID]
    loss, k = min(losses)
    return k, loss


def underflow(P: torch.Tensor, x: torch.Tensor, y: torch.Tensor, items: int) -> dict[str, Any]:
    """The likelihood of the first `items` val items as a float32 product (it reaches 0),
    beside its log (a sum of finite numbers) and the NLL that comes from it."""
    ends = (y == 0).nonzero().flatten()  # every item ends on the boundary token
    n = int(ends[min(items, len(ends)) - 1]) + 1
    probs = P[x[:n, -1], y[:n]].float()
    product = torch.tensor(1.0, dtype=torch.float32)
    zero_at = None
    for i, p in enumerate(probs):
        product = product * p
        if zero_at is None and float(product) == 0.0:
            zero_at = i + 1
    log_likelihood = float(torch.log(probs.double()).sum())
    return {
        "items": min(items, len(ends)),
        "characters": n,
        "product_float32": float(product),
        "zero_after_characters": zero_at,
        "smallest_float32": float(torch.finfo(torch.float32).tiny),
        "log_likelihood": log_likelihood,
        "nll": -log_likelihood / n,
    }


def counts_doc(corpus: Corpus, config: Any, seed: int, model: Any, splits: dict[str, Any]) -> dict[str, Any]:
    """Learnings 1-5 on one corpus: the pairs, the count matrix, the row sums, the
    likelihood's underflow and the NLL against what `mmzoo eval` reports, the limit."""
    chars, V = corpus.vocab.chars, corpus.vocab.size
    train, val = splits["train"], splits["val"]
    N = count_matrix(train.x, train.y, V)
    train_items = split_items(corpus.items, seed)["train"]
    first = train_items[0]
    k = float(model.smoothing)
    P32 = (N + k).float()
    P32 /= P32.sum(1, keepdim=True)  # the lecture's line, in the lecture's float32
    P = smoothed(N, k)
    k_val, val_best = best_k(N, val.x, val.y)
    order = torch.argsort(N.flatten(), descending=True)[:10].tolist()
    return {
        "model": "bigram",
        "data": {"source": corpus.source, "items": len(corpus), "train_items": len(train_items)},
        "seed": seed,
        "vocab_size": V,
        "smoothing": k,
        "pairs": {
            "item": first,
            "pairs": [[a, b] for a, b in zip(BOUNDARY + first, first + BOUNDARY, strict=True)],
            "zip_equals_training_windows": bool(torch.equal(zip_counts(train_items, chars), N)),
        },
        "counts": {
            "shape": [V, V],
            "total": int(N.sum()),
            "zero_cells": int((N == 0).sum()),
            "top": [[chars[i // V] + chars[i % V], int(N.flatten()[i])] for i in order],
        },
        "row_sums": {"max_abs_error": float((P32.sum(1) - 1).abs().max())},
        "likelihood": underflow(P, val.x, val.y, UNDERFLOW_ITEMS),
        "nll": {
            "train_by_hand": nll(P, train.x, train.y),
            "val_by_hand": nll(P, val.x, val.y),
            "val_mmzoo": split_loss(model, val.x, val.y),  # the cross-entropy `mmzoo eval` prints
        },
        "limit": {
            "train_unsmoothed": nll(smoothed(N, 0.0), train.x, train.y),
            "val_best": val_best,
            "val_best_k": k_val,
        },
    }


def sweep_doc(corpus: Corpus, seed: int, splits: dict[str, Any], values: list[str]) -> list[dict[str, Any]]:
    """`--compare smoothing=...` on the count model: train and val NLL per k."""
    train, val = splits["train"], splits["val"]
    N = count_matrix(train.x, train.y, corpus.vocab.size)
    rows = []
    for text in values:
        try:
            k = float(text)
        except ValueError:
            raise MmzooError(f"--compare smoothing: {text!r} is not a number") from None
        if not (k >= 0 and math.isfinite(k)):
            raise MmzooError(f"--compare smoothing: k must be 0 or more, got {text}")
        P = smoothed(N, k)
        val_loss = nll(P, val.x, val.y)  # inf at k = 0 when val has a pair train never saw: null
        rows.append({"label": f"smoothing={text}", "value": k, "train_loss": nll(P, train.x, train.y),
                     "val_loss": val_loss if math.isfinite(val_loss) else None})  # fmt: skip
    return rows


def neural_doc(model: torch.nn.Module, splits: dict[str, Any], config: Any) -> dict[str, Any] | None:
    """Learnings 6-8 for a trained neural bigram: how far softmax(W) is from the
    normalised counts, its loss against the counts' limit, one-hot @ W against W[x],
    and the add-k whose count model it resembles most (its L2 strength as fake counts)."""
    if not isinstance(model, BigramNN):
        return None
    train, val = splits["train"], splits["val"]
    W = model.W.detach().cpu()
    V = W.shape[0]
    N = count_matrix(train.x, train.y, V)
    seen = N.sum(1) > 0
    P_nn = torch.softmax(W.double(), dim=1)
    rows = N.sum(1).double() / N.sum()
    diffs = (P_nn - smoothed(N, 0.0)).abs()[seen]

    def kl(k: float) -> float:  # row-frequency weighted KL(counts_k || nn): what the data sees
        P = smoothed(N, k)
        return float((rows[:, None] * P * (P.log() - P_nn.log()))[seen].sum())

    k_match = min(K_GRID, key=kl)
    xs = val.x[:, -1]
    one_hot = F.one_hot(xs, V).float() @ W
    selected = W[xs]
    return {
        "l2": dataclasses.asdict(config).get("l2"),
        "max_prob_diff": float(diffs.max()),
        "max_prob_diff_frequent": float((P_nn - smoothed(N, 0.0)).abs()[rows > 0.01].max()),
        "train_loss": split_loss(model, train.x, train.y),
        "limit_train": nll(smoothed(N, 0.0), train.x, train.y),
        "val_loss": split_loss(model, val.x, val.y),
        "one_hot": {
            "rows": len(xs),
            "equal": bool(torch.equal(one_hot, selected)),
            "max_abs_diff": float((one_hot - selected).abs().max()),
        },  # fmt: skip
        "matched_smoothing": {
            "k": k_match,
            "kl": kl(k_match),
            "val_loss_counts": nll(smoothed(N, k_match), val.x, val.y),
        },  # fmt: skip
    }


def splits_for(spec: Any, corpus: Corpus, seed: int) -> dict[str, Any]:
    """The train/val/test windows a run of `spec` with `seed` trains on."""
    from mmzoo.engine.data.token_batches import make_splits

    return make_splits(corpus, seed, spec.create(spec.make_config(None, {}), corpus.vocab.size))


def k_curve(splits: dict[str, Any], V: int) -> dict[str, list[float]]:
    """The count model's val NLL over K_GRID: the curve the L2 sweep is drawn against."""
    train, val = splits["train"], splits["val"]
    N = count_matrix(train.x, train.y, V)
    return {"k": list(K_GRID), "val_loss": [nll(smoothed(N, k), val.x, val.y) for k in K_GRID]}
