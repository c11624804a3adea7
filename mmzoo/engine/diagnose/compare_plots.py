"""The figures of `mmzoo diagnose --compare`: one figure per statistic, the
variants side by side in columns (matplotlib's object API, as plots.py).
Layer k has the same colour in every variant, so the same depth can be followed
across the columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmzoo.engine.diagnose.compare import Variant
from mmzoo.engine.diagnose.flags import UPDATE_HIGH, UPDATE_LOW
from mmzoo.engine.diagnose.plots import _colours, _f, _figure, _histograms, _save, require_matplotlib
from mmzoo.engine.diagnose.stats import SATURATION, Diagnosis

COLUMN = 4.6  # inches per variant
ROW = 4.9  # inches per row of histograms, legend included
FIGURES = ("activations", "gradients", "updates", "loss")


def _by_depth(names: list[str]) -> dict[str, Any]:
    """Colour by position: the k-th layer of every variant shares a colour."""
    by_index = _colours([str(i) for i in range(len(names))])
    return {n: by_index[str(i)] for i, n in enumerate(names)}


def _title(results: list[tuple[Variant, Diagnosis]], what: str) -> str:
    doc = results[0][1].doc
    model = doc["model"] + (f" ({doc['preset']})" if doc.get("preset") else "")
    return f"{model}, {doc['steps']} steps, seed {doc['seed']}: {what}"


def draw_histograms(results: list[tuple[Variant, Diagnosis]], kind: str, path: Path) -> None:
    """Rows init and end, one column per variant: the tanh outputs (kind 'act') or
    the gradients at them (kind 'grad')."""
    fig = _figure(COLUMN * len(results), 2 * ROW)
    axes = fig.subplots(2, len(results), squeeze=False)
    for col, (variant, d) in enumerate(results):
        doc, names = d.doc, d.doc["focus"]
        by_name = {la["name"]: la for la in doc["layers"]}
        tanh = all(by_name[n]["tanh"] for n in names)
        colours = _by_depth(names)
        for row, when in enumerate(("init", "end")):
            ax, labels = axes[row][col], {}
            for n in names:
                s = by_name[n][when]
                labels[n] = f"{n}: std {_f(s[kind + '_std'])}"
                if kind == "act" and s["saturated"] is not None:
                    labels[n] += f", sat {s['saturated']:.1%}"
            samples = (d.act_samples if kind == "act" else d.grad_samples)[when]
            xrange = (-1.0, 1.0) if kind == "act" and tanh else None
            _histograms(ax, samples, names, colours, labels, xrange, kind == "grad")
            if kind == "act" and tanh:
                for x in (-SATURATION, SATURATION):
                    ax.axvline(x, color="grey", ls=":", lw=1)
            step = 0 if when == "init" else doc["steps"] - 1
            ax.set_title(f"{variant.label}, step {step}", fontsize=10)
    what = "tanh outputs" if kind == "act" else "gradients at the tanh outputs"
    fig.suptitle(_title(results, f"{what}, at init (top) and at the end (bottom)"))
    _save(fig, path)


def draw_updates(results: list[tuple[Variant, Diagnosis]], path: Path) -> None:
    fig = _figure(COLUMN * len(results), 4.2)
    axes = fig.subplots(1, len(results), squeeze=False, sharey=True)[0]
    for ax, (variant, d) in zip(axes, results, strict=True):
        params = d.doc["parameters"]
        colours = _by_depth([p["name"] for p in params])
        for p in params:
            series = np.array([np.nan if v is None else v for v in p["update_log10"]], dtype=float)
            ax.plot(np.arange(series.size), series, color=colours[p["name"]], lw=0.8, label=p["name"])
        ax.axhspan(np.log10(UPDATE_LOW), np.log10(UPDATE_HIGH), color="green", alpha=0.08)
        ax.axhline(-3, color="black", ls="--", lw=1)
        ax.set_title(variant.label, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right", framealpha=0.8)
    axes[0].set_ylabel("log10(update std / weight std)")
    fig.suptitle(_title(results, "update:data ratio per weight matrix (dashed: 1e-3)"))
    _save(fig, path)


def draw_loss(results: list[tuple[Variant, Diagnosis]], path: Path) -> None:
    """Every variant's training loss on one panel, a trailing mean over 25 steps
    (fewer at the start, so that step 0 is drawn as it was)."""
    fig = _figure(COLUMN * 2, 4.4)
    ax = fig.subplots()
    colours = _colours([v.label for v, _ in results])
    for variant, d in results:
        loss = np.asarray(d.doc["loss"], dtype=float)
        counts = np.minimum(np.arange(1, loss.size + 1), 25)
        smooth = np.convolve(loss, np.ones(25), mode="full")[: loss.size] / counts
        label = f"{variant.label}: step 0 {loss[0]:.2f}, val {d.doc['val_loss']:.3f}"
        ax.plot(np.arange(loss.size), smooth, color=colours[variant.label], lw=1.2, label=label)
    uniform = results[0][1].doc["initial_loss"]["uniform"]
    ax.axhline(uniform, color="black", ls="--", lw=1, label=f"-log(1/V) = {uniform:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss, mean of 25 steps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(_title(results, "training loss"))
    _save(fig, path)


def draw_compare(results: list[tuple[Variant, Diagnosis]], out: Path) -> dict[str, str]:
    """Write every comparison figure into `out`; returns figure name -> file name."""
    require_matplotlib()
    files = {name: f"{name}.png" for name in FIGURES}
    draw_histograms(results, "act", out / files["activations"])
    draw_histograms(results, "grad", out / files["gradients"])
    draw_updates(results, out / files["updates"])
    draw_loss(results, out / files["loss"])
    return files
