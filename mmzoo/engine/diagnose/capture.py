"""Hooks that record what every layer outputs, and the gradient that flows back
into it, during one captured training step.

Hooks go on every leaf module (Linear, BatchNorm, Tanh, and whatever a plugin
model is built from), so a new model is diagnosed without code of its own.
Tanh applied functionally (`torch.tanh(x)` in a forward, as the `mlp` model
does) is caught too, through a TorchFunctionMode, because part 3's whole story
is about those activations.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.Tanh, nn.ReLU, nn.GELU, nn.Sigmoid, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Mish, nn.Softplus,
    nn.Hardtanh, nn.ReLU6, nn.SELU, nn.CELU,
)  # fmt: skip
F = torch.nn.functional
# Activations a forward may call as functions, with no module to hook: name -> functions.
FUNCTIONAL_ACTIVATIONS = {
    "tanh": (torch.tanh, torch.Tensor.tanh, F.tanh),
    "sigmoid": (torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid),
    "relu": (torch.relu, torch.Tensor.relu, F.relu),
    "gelu": (F.gelu,),
    "silu": (F.silu,),
}
ACTIVATION_OF = {func: name for name, funcs in FUNCTIONAL_ACTIVATIONS.items() for func in funcs}


@dataclass
class LayerCapture:
    """One layer's outputs and output gradients during one captured step."""

    name: str
    kind: str
    order: int
    tanh: bool
    activation: bool
    outputs: list[torch.Tensor] = field(default_factory=list)
    grads: list[torch.Tensor] = field(default_factory=list)


class _FunctionalActivations(TorchFunctionMode):
    """Sees `torch.tanh(x)`, `F.gelu(x)`... called outside any leaf module."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        kind = ACTIVATION_OF.get(func)
        if kind and self.recorder.depth == 0 and torch.is_tensor(out) and out.is_floating_point() and args:
            self.recorder.functional_activation(kind, args[0], out)
        return out


def _call_site() -> str:
    """file:line of the model code that called a function (the first frame outside torch and mmzoo.engine.diagnose)."""
    torch_dir = os.path.dirname(torch.__file__)
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith(torch_dir) and path != __file__:
            return f"{os.path.basename(path)}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


def _first_tensor(output: Any) -> torch.Tensor | None:
    """A module's output, or the first tensor of a tuple output (an RNN's (output, state))."""
    if torch.is_tensor(output):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if torch.is_tensor(o)), None)
    return None


class Recorder:
    """Forward hooks on every leaf module, installed only while `capture()` is open."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
        self.layers: dict[str, LayerCapture] = {}
        self.depth = 0
        self._producer: dict[int, str] = {}
        self._alive: list[torch.Tensor] = []  # so tensor ids stay unique while capturing

    def _layer(self, name: str, kind: str, tanh: bool, activation: bool) -> LayerCapture:
        if name not in self.layers:
            self.layers[name] = LayerCapture(name, kind, len(self.layers), tanh, activation)
        return self.layers[name]

    def _record(self, layer: LayerCapture, out: torch.Tensor) -> None:
        layer.outputs.append(out.detach().float().flatten().clone())
        if out.requires_grad:
            out.register_hook(lambda g: layer.grads.append(g.detach().float().flatten().clone()))

    def functional_activation(self, kind: str, x: Any, out: torch.Tensor) -> None:
        """Named after the layer that fed it (`tanh(hidden)`), else after the line that called it."""
        producer = self._producer.get(id(x)) if torch.is_tensor(x) else None
        name = f"{kind}({producer})" if producer else f"{kind}@{_call_site()}"
        self._alive.append(out)
        self._record(self._layer(name, f"{kind} (functional)", kind == "tanh", True), out)

    def _hooks(self, name: str, module: nn.Module) -> tuple[Callable, Callable]:
        skip = isinstance(module, nn.Identity)  # --no-bn leaves these: a no-op is not a layer
        tanh = isinstance(module, nn.Tanh)
        activation = isinstance(module, ACTIVATIONS)

        def pre(mod: nn.Module, args: tuple) -> None:
            self.depth += 1

        def post(mod: nn.Module, args: tuple, output: Any) -> None:
            self.depth -= 1
            out = _first_tensor(output)
            if out is None or not out.is_floating_point() or skip:
                return
            self._alive.append(out)
            self._producer[id(out)] = name
            self._record(self._layer(name, type(mod).__name__, tanh, activation), out)

        return pre, post

    @contextlib.contextmanager
    def capture(self) -> Iterator[dict[str, LayerCapture]]:
        """Record one forward/backward: open around the forward, read after backward."""
        self.layers, self.depth, self._producer = {}, 0, {}
        handles = []
        for name, module in self.leaves:
            pre, post = self._hooks(name, module)
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
        try:
            with _FunctionalActivations(self):
                yield self.layers
        finally:
            for h in handles:
                h.remove()
            self._alive, self._producer = [], {}
