"""The figures of docs/learnings.md: the bigram count matrix as the lecture drew
it, the add-k sweep, the L2 sweep against it, and BatchNorm's coupling
(matplotlib's object API, as plots.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmzoo.engine.diagnose.plots import _figure, _save

CELL = 0.6  # inches per cell of the count grid
TEXT_UP_TO = 60  # above this many characters the cells are too small to write in


def _show(c: str) -> str:
    return {" ": "␣", "\t": "\\t"}.get(c, c)


def draw_counts(N: torch.Tensor, chars: tuple[str, ...], path: Path) -> None:
    """The V x V count matrix as a grid: each cell's pair and count, darker for more
    (the lecture's `plt.imshow(N, cmap='Blues')` with its text on top)."""
    V = len(chars)
    size = max(6.0, min(CELL * V, 40.0))
    fig = _figure(size, size)
    ax = fig.subplots()
    counts = N.numpy()
    ax.imshow(counts, cmap="Blues")
    if V <= TEXT_UP_TO:
        small, dark = max(3.0, min(7.0, 190.0 / V)), 0.5 * counts.max()
        for i in range(V):
            for j in range(V):
                colour = "white" if counts[i, j] > dark else "dimgrey"
                ax.text(j, i, _show(chars[i]) + _show(chars[j]), ha="center", va="bottom", color=colour,
                        fontsize=small)  # fmt: skip
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="top", color=colour, fontsize=small)
    ax.set_xticks(range(V), [_show(c) for c in chars], fontsize=7)
    ax.set_yticks(range(V), [_show(c) for c in chars], fontsize=7)
    ax.set_xlabel("next character")
    ax.set_ylabel("character")
    pairs = int(counts.sum())
    ax.set_title(f"bigram counts N[i, j] over the train split: {pairs} pairs ('.' starts and ends each item)")
    _save(fig, path)


def draw_smoothing(doc: dict[str, Any], path: Path) -> None:
    """Train and val NLL of the count model over the add-k values compared."""
    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    rows = doc["variants"]
    ks = [max(r["value"], 1e-4) for r in rows]  # k = 0 drawn at 1e-4 on the log axis
    ax.plot(ks, [r["train_loss"] for r in rows], "o-", label="train")
    ax.plot(ks, [np.nan if r["val_loss"] is None else r["val_loss"] for r in rows], "s-", label="val (none: infinite)")
    ax.axhline(doc["limit"]["train_unsmoothed"], color="grey", ls=":", label="train, unsmoothed (the limit)")
    ax.set_xscale("log")
    ax.set_xlabel("add-k smoothing k (k = 0 drawn at 1e-4)")
    ax.set_ylabel("NLL per character")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"bigram counts on {doc['data']['source']}: smoothing sweep")
    _save(fig, path)


def draw_l2(variants: list[dict[str, Any]], curve: dict[str, list[float]], title: str, path: Path) -> None:
    """Left: the count model's val NLL over k, with each L2 strength's neural bigram
    placed at the k it matches; right: the matched k against the L2 strength."""
    fig = _figure(11.0, 4.4)
    left, right = fig.subplots(1, 2)
    left.plot(curve["k"], curve["val_loss"], color="grey", label="counts + k (val)")
    for v in variants:
        b = v["bigram"]
        m = b["matched_smoothing"]
        left.plot([m["k"]], [b["val_loss"]], "o", label=f"{v['label']}: val {b['val_loss']:.4f}, k ≈ {m['k']:.3g}")
    left.set_xscale("log")
    left.set_xlabel("add-k smoothing k")
    left.set_ylabel("val NLL per character")
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    left.set_title("neural bigrams at the k they match")
    l2 = np.array([max(v["bigram"]["l2"], 1e-4) for v in variants])
    ks = np.array([v["bigram"]["matched_smoothing"]["k"] for v in variants])
    right.plot(l2, ks, "o-")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("L2 strength (l2 = 0 drawn at 1e-4)")
    right.set_ylabel("matched add-k")
    right.grid(alpha=0.3)
    right.set_title("more L2 = more fake counts")
    fig.suptitle(title)
    _save(fig, path)


def draw_coupling(variants: list[dict[str, Any]], title: str, path: Path) -> None:
    """Per variant, how much one example's logits move when the rest of its batch is
    replaced: in training mode and in eval mode (0 is drawn at 1e-9)."""
    fig = _figure(7.0, 4.2)
    ax = fig.subplots()
    x = np.arange(len(variants))
    for offset, mode in ((-0.2, "train_mode"), (0.2, "eval_mode")):
        values = [max(v["coupling"][mode], 1e-9) for v in variants]
        bars = ax.bar(x + offset, values, width=0.4, label=mode.replace("_", " "))
        for bar, v in zip(bars, variants, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v['coupling'][mode]:.2g}",
                    ha="center", va="bottom", fontsize=7)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(x, [v["label"] for v in variants])
    ax.set_ylabel("max |change| of example 0's logits")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    _save(fig, path)
