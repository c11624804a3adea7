"""The figures of `mmzoo diagnose`, drawn with matplotlib (the optional extra `plots`).

Figures are built with matplotlib's object API (`Figure`, saved through Agg) and
never through pyplot, so no global backend is switched and no window can open.
Every layer keeps one colour across all figures, so a layer that looks wrong in
activations.png can be followed into gradients.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmzoo.engine.diagnose.flags import UPDATE_HIGH, UPDATE_LOW
from mmzoo.engine.diagnose.report import describe_run
from mmzoo.engine.diagnose.stats import SATURATION, Diagnosis
from mmzoo.errors import MmzooError

DPI = 80
PANEL = (6.0, 4.2)  # inches per panel
HIST_HEIGHT = 5.9  # histogram figures: the panel and its legend below
BINS = 60
FIGURES = ("activations", "gradients", "weights", "updates", "loss")


def require_matplotlib() -> None:
    """Fail before training, not after it, when the plots extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MmzooError(
            "mmzoo diagnose draws its figures with matplotlib, which is not installed: "
            "pip install 'mmzoo[plots]' (or pip install matplotlib)"
        ) from None


def _colours(names: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    if len(names) <= 10:
        cmap = colormaps["tab10"]
        return {n: cmap(i) for i, n in enumerate(names)}
    cmap = colormaps["viridis"]
    return {n: cmap(i / max(1, len(names) - 1)) for i, n in enumerate(names)}


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _range(arrays: list[np.ndarray], symmetric: bool) -> tuple[float, float]:
    """A shared x range for one panel, from percentiles so one outlier cannot flatten the rest."""
    values = np.concatenate([a for a in arrays if a.size]) if arrays else np.zeros(1)
    if symmetric:
        m = float(np.percentile(np.abs(values), 99.5)) or 1.0
        return -m, m
    lo, hi = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


def _histograms(
    ax: Any,
    samples: dict[str, np.ndarray],
    names: list[str],
    colours: dict[str, Any],
    labels: dict[str, str],
    xrange: tuple[float, float] | None,
    symmetric: bool,
) -> None:
    """One line per layer: the lecture's histograms, as lines so that they overlap legibly."""
    present = [n for n in names if n in samples and samples[n].size]
    if not present:
        ax.text(0.5, 0.5, "no values recorded", ha="center", va="center", transform=ax.transAxes)
        return
    lo, hi = xrange or _range([samples[n] for n in present], symmetric)
    for name in present:
        density, edges = np.histogram(samples[name], bins=BINS, range=(lo, hi), density=True)
        ax.plot((edges[:-1] + edges[1:]) / 2, density, color=colours[name], label=labels[name], lw=1.4)
    # below the panel, not on it: symmetric histograms leave no empty corner to put it in
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.16), frameon=False)
    ax.grid(alpha=0.3)


def _snapshot_title(when: str, steps: int) -> str:
    return "at init (step 0)" if when == "init" else f"at the end (step {steps - 1})"


def draw_activations(d: Diagnosis, colours: dict[str, Any], path: Path) -> None:
    doc = d.doc
    by_name = {la["name"]: la for la in doc["layers"]}
    names = doc["focus"]
    tanh = all(by_name[n]["tanh"] for n in names)
    fig = _figure(2 * PANEL[0], HIST_HEIGHT)
    axes = fig.subplots(1, 2, sharey=False)
    for ax, when in zip(axes, ("init", "end"), strict=True):
        labels = {}
        for n in names:
            s = by_name[n][when]
            text = f"{n}: mean {_f(s['act_mean'])}, std {_f(s['act_std'])}"
            if s["saturated"] is not None:
                text += f", sat {s['saturated']:.1%}"
            labels[n] = text
        _histograms(ax, d.act_samples[when], names, colours, labels, (-1.0, 1.0) if tanh else None, False)
        if tanh:
            for x in (-SATURATION, SATURATION):
                ax.axvline(x, color="grey", ls=":", lw=1)
        ax.set_title(_snapshot_title(when, doc["steps"]), fontsize=10)
        ax.set_xlabel("activation value" + (" (tanh output; dotted: |t| = 0.97)" if tanh else ""))
        ax.set_ylabel("density")
    kind = "tanh layers" if tanh else "activation layers"
    fig.suptitle(f"{describe_run(doc)}: {kind}' outputs")
    _save(fig, path)


def draw_gradients(d: Diagnosis, colours: dict[str, Any], path: Path) -> None:
    doc = d.doc
    by_name = {la["name"]: la for la in doc["layers"]}
    names = doc["focus"]
    fig = _figure(2 * PANEL[0], HIST_HEIGHT)
    axes = fig.subplots(1, 2)
    for ax, when in zip(axes, ("init", "end"), strict=True):
        labels = {n: f"{n}: mean {_f(by_name[n][when]['grad_mean'])}, std {_f(by_name[n][when]['grad_std'])}"
                  for n in names}  # fmt: skip
        _histograms(ax, d.grad_samples[when], names, colours, labels, None, True)
        check = doc["gradient_check"][when]
        ratio = "" if check["ratio"] is None else f"; std first/last {check['ratio']:.3g}"
        ax.set_title(_snapshot_title(when, doc["steps"]) + ratio, fontsize=10)
        ax.set_xlabel("gradient of the loss w.r.t. the layer's output")
        ax.set_ylabel("density")
    fig.suptitle(f"{describe_run(doc)}: gradients at the layers' outputs")
    _save(fig, path)


def draw_weights(d: Diagnosis, colours: dict[str, Any], path: Path) -> None:
    doc = d.doc
    names = [p["name"] for p in doc["parameters"]]
    by_name = {p["name"]: p for p in doc["parameters"]}
    fig = _figure(2 * PANEL[0], HIST_HEIGHT)
    axes = fig.subplots(1, 2)
    for ax, when in zip(axes, ("init", "end"), strict=True):
        labels = {}
        for n in names:
            p = by_name[n]
            shape = "x".join(str(s) for s in p["shape"])
            labels[n] = f"{n} [{shape}]: grad std {_f(p[when]['grad_std'])}, grad:data {_f(p[when]['grad_data_ratio'])}"
        _histograms(ax, d.weight_grad_samples[when], names, colours, labels, None, True)
        ax.set_title(_snapshot_title(when, doc["steps"]), fontsize=10)
        ax.set_xlabel("gradient of the loss w.r.t. the weight")
        ax.set_ylabel("density")
    fig.suptitle(f"{describe_run(doc)}: weight gradients (grad:data = grad std / weight std)")
    _save(fig, path)


def draw_updates(d: Diagnosis, colours: dict[str, Any], path: Path) -> None:
    doc = d.doc
    fig = _figure(PANEL[0] * 1.6, PANEL[1])
    ax = fig.subplots()
    steps = np.arange(doc["steps"])
    for p in doc["parameters"]:
        series = np.array([np.nan if v is None else v for v in p["update_log10"]], dtype=float)
        ax.plot(steps, series, color=colours[p["name"]], lw=1, label=p["name"])
    ax.axhspan(np.log10(UPDATE_LOW), np.log10(UPDATE_HIGH), color="green", alpha=0.08, label="1e-4 .. 1e-2")
    ax.axhline(-3, color="black", ls="--", lw=1, label="1e-3")
    if doc["update_window"]:
        ax.axvline(doc["update_window"][0], color="grey", ls=":", lw=1, label="judged from here")
    ax.set_xlabel("step")
    ax.set_ylabel("log10(update std / weight std)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
    r = doc["recipe"]
    fig.suptitle(f"{describe_run(doc)}: update:data ratio ({r['optimizer']}, lr {r['lr']:g}, {r['schedule']})")
    _save(fig, path)


def draw_loss(d: Diagnosis, path: Path) -> None:
    """The hockey stick: a loss far above -log(1/V) at step 0 is an overconfident init."""
    doc = d.doc
    il = doc["initial_loss"]
    fig = _figure(PANEL[0] * 1.6, PANEL[1])
    ax = fig.subplots()
    ax.plot(np.arange(doc["steps"]), doc["loss"], color="tab:blue", lw=0.8, label="batch loss")
    ax.axhline(il["uniform"], color="black", ls="--", lw=1, label=f"-log(1/{doc['vocab_size']}) = {il['uniform']:.2f}")
    ax.annotate(f"step 0: {il['loss']:.2f}", (0, il["loss"]), textcoords="offset points", xytext=(10, -4),
                fontsize=8)  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats per character)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{describe_run(doc)}: loss, initial {il['loss']:.2f} vs uniform {il['uniform']:.2f}")
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    """PNG with an adaptive 128-colour palette: a third of the size of matplotlib's
    RGBA, with no visible difference for line plots (the docs commit these files)."""
    import io

    from PIL import Image  # a dependency of matplotlib itself

    from mmzoo.fsutil import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    png = io.BytesIO()
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(png, "PNG", optimize=True)
    # A temp name and a rename: a symlink planted at `path` is replaced, never written through,
    # and a kill mid-write never leaves a truncated PNG under the figure's name.
    atomic_write(path, png.getvalue())


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2g}"


def draw_all(d: Diagnosis, out: Path) -> dict[str, str]:
    """Write every figure into `out`; returns figure name -> file name."""
    require_matplotlib()
    colours = _colours(d.doc["focus"])  # layers and weight matrices never share a figure
    colours.update(_colours([p["name"] for p in d.doc["parameters"]]))
    files = {name: f"{name}.png" for name in FIGURES}
    draw_activations(d, colours, out / files["activations"])
    draw_gradients(d, colours, out / files["gradients"])
    draw_weights(d, colours, out / files["weights"])
    draw_updates(d, colours, out / files["updates"])
    draw_loss(d, out / files["loss"])
    return files
