"""Summaries of one captured step: per-layer activation and gradient statistics,
per-weight gradient statistics, and the samples the histograms are drawn from.
Torch-free callers (plots) get plain numbers and numpy arrays in `Diagnosis`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from mmzoo.engine.diagnose.capture import LayerCapture

SATURATION = 0.97  # |tanh| above this is in the flat tail: its local gradient is < 6% of the peak
MAX_SAMPLES = 50_000  # values kept per layer and snapshot for the histograms
SNAPSHOTS = ("init", "end")


def _sample(t: torch.Tensor, generator: torch.Generator) -> np.ndarray:
    t = t.cpu()  # --device cuda: the sample is drawn and plotted on the CPU
    if t.numel() > MAX_SAMPLES:
        t = t[torch.randperm(t.numel(), generator=generator)[:MAX_SAMPLES]]
    return t.numpy().astype(np.float32)


def _num(x: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass
class Diagnosis:
    """Everything the report, stats.json and the figures need."""

    doc: dict[str, Any]  # stats.json
    act_samples: dict[str, dict[str, np.ndarray]]  # snapshot -> layer -> values
    grad_samples: dict[str, dict[str, np.ndarray]]  # snapshot -> layer -> d loss / d output
    weight_grad_samples: dict[str, dict[str, np.ndarray]]  # snapshot -> parameter -> d loss / d weight


def summarize_layers(
    captures: dict[str, LayerCapture], generator: torch.Generator
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray], dict[str, np.ndarray]]:
    stats, acts, grads = {}, {}, {}
    for name, layer in captures.items():
        out = torch.cat(layer.outputs)
        entry: dict[str, Any] = {
            "act_mean": _num(out.mean().item()),
            "act_std": _num(out.std().item()) if out.numel() > 1 else None,
            "saturated": _num((out.abs() > SATURATION).float().mean().item()) if layer.tanh else None,
            "grad_mean": None,
            "grad_std": None,
        }
        acts[name] = _sample(out, generator)
        if layer.grads:
            g = torch.cat(layer.grads)
            entry["grad_mean"] = _num(g.mean().item())
            entry["grad_std"] = _num(g.std().item()) if g.numel() > 1 else None
            grads[name] = _sample(g, generator)
        stats[name] = entry
    return stats, acts, grads


def summarize_weights(
    weights: dict[str, nn.Parameter], generator: torch.Generator
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    stats, samples = {}, {}
    for name, p in weights.items():
        data_std = p.detach().std().item()
        if p.grad is None:
            stats[name] = {"data_std": _num(data_std), "grad_mean": None, "grad_std": None, "grad_data_ratio": None}
            continue
        g = p.grad.detach().float().flatten()
        grad_std = g.std().item()
        stats[name] = {
            "data_std": _num(data_std),
            "grad_mean": _num(g.mean().item()),
            "grad_std": _num(grad_std),
            "grad_data_ratio": _num(grad_std / data_std) if data_std > 0 else None,
        }
        samples[name] = _sample(g, generator)
    return stats, samples


def focus_layers(layers: list[dict[str, Any]]) -> list[str]:
    """The layers the histograms and the gradient check look at: the tanh layers
    (the lecture's view); for a model without tanh its other activation layers;
    failing those, every layer."""
    for pick in (lambda la: la["tanh"], lambda la: la["activation"], lambda la: True):
        chosen = [la["name"] for la in layers if pick(la)]
        if chosen:
            return chosen
    return []


def gradient_check(layers: list[dict[str, Any]], focus: list[str], when: str) -> dict[str, Any]:
    """Grad std of the first focus layer over that of the last one: about 1 when
    gradients keep their scale through the depth of the network. Only activation
    layers are compared, like with like: an embedding's output gradient and the
    logits' are on different scales in a perfectly healthy network."""
    by_name = {la["name"]: la for la in layers}
    with_grad = [n for n in focus if by_name[n]["activation"] and by_name[n][when]["grad_std"]]
    if len(with_grad) < 2:
        return {"first": None, "last": None, "ratio": None, "note": "fewer than two activation layers with gradients"}
    first, last = with_grad[0], with_grad[-1]
    ratio = by_name[first][when]["grad_std"] / by_name[last][when]["grad_std"]
    return {"first": first, "last": last, "ratio": _num(ratio)}
