"""Model surgery for the lecture's comparisons: BatchNorm out (--no-bn) and the
weights re-initialised (--init), or the model left as its plugin built it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from mmzoo.engine.export.trace import BatchNormBase, set_submodule, trace_leaf_calls
from mmzoo.errors import MmzooError
from mmzoo.models.blocks import TANH_GAIN

AS_BUILT = "as-built"
INIT_MODES = (AS_BUILT, "kaiming", "default", "naive")
LAST_LAYER_SCALE = 0.1


def remove_batchnorm(model: nn.Module) -> list[str]:
    """Replace every BatchNorm with Identity; returns the names replaced.

    The lecture's comparison is the same network with and without BatchNorm,
    so the layers are swapped out, not retrained around."""
    names = [name for name, m in model.named_modules() if isinstance(m, BatchNormBase)]
    for name in names:
        set_submodule(model, name, nn.Identity())
    return names


def find_head(model: nn.Module, run: Callable[[nn.Module], object], vocab_size: int) -> str | None:
    """The Linear that produces the logits: the last one called whose output has
    V features (the lecture's "last layer", scaled by 0.1 in the kaiming init)."""
    was_training = model.training
    model.eval()  # no BatchNorm statistics updated by this look-ahead pass
    try:
        calls = trace_leaf_calls(model, run)
    finally:
        model.train(was_training)
    linears = [c.name for c in calls if isinstance(c.module, nn.Linear)]
    heads = [c.name for c in calls if isinstance(c.module, nn.Linear) and c.module.out_features == vocab_size]
    if heads:
        return heads[-1]
    return linears[-1] if linears else None


@torch.no_grad()
def apply_init(
    model: nn.Module, mode: str, head: str | None, gain: float = TANH_GAIN, last_scale: float = LAST_LAYER_SCALE
) -> dict[str, Any]:
    """Re-initialise the model as the lecture does; returns what was touched.

    as-built: nothing: the model as its plugin built it (mlp-bn: Kaiming 5/3 already).
    naive:   weights and biases of every Linear ~ N(0, 1): the lecture's starting
             point (no fan-in scaling, no small last layer), which saturates tanh.
    default: PyTorch's own reset_parameters() on every module that has one.
    kaiming: Linear weights ~ N(0, gain^2 / fan_in), biases 0, the last layer x last_scale.
    In naive, default and kaiming every other module with reset_parameters()
    (Embedding, BatchNorm, LayerNorm...) gets PyTorch's init, so only the Linear
    layers differ; parameters of plugin modules without reset_parameters() keep the model's init.
    """
    if mode not in INIT_MODES:
        raise MmzooError(f"--init must be one of {', '.join(INIT_MODES)}, got {mode!r}")
    doc: dict[str, Any] = {"mode": mode, "linear": [], "last_layer": head, "pytorch_default": [], "kept": []}
    if mode == AS_BUILT:
        return doc
    if mode == "kaiming":
        doc.update(gain=gain, last_layer_scale=last_scale)
    for name, module in model.named_modules():
        own = list(module.named_parameters(recurse=False))
        if isinstance(module, nn.Linear) and mode != "default":
            _init_linear(module, mode, gain, last_scale if name == head else 1.0)
            doc["linear"].append(name)
        elif hasattr(module, "reset_parameters") and callable(module.reset_parameters):
            module.reset_parameters()
            doc["pytorch_default"].append(name or "(root)")
        elif own:
            doc["kept"].extend(f"{name}.{p}" if name else p for p, _ in own)
    return doc


def _init_linear(module: nn.Linear, mode: str, gain: float, scale: float) -> None:
    if mode == "naive":
        module.weight.normal_(0.0, 1.0)
        if module.bias is not None:
            module.bias.normal_(0.0, 1.0)
        return
    module.weight.normal_(0.0, scale * gain / module.in_features**0.5)
    if module.bias is not None:
        module.bias.zero_()
