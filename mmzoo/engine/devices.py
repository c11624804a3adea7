"""`--device cpu|cuda|mps|auto`: where training, evaluation and diagnosis run.

cpu is the default, so results do not depend on the machine unless asked; auto
picks cuda, then mps, then cpu. On CUDA the training forward runs under bf16
autocast where the GPU supports it (matmuls in bf16, the loss and the weights in
float32); evaluation stays in float32 so val losses compare across devices and
with the exported model.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from mmzoo.errors import MmzooError

DEVICES = ("cpu", "cuda", "mps", "auto")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | None) -> torch.device:
    """A torch.device for --device, or one clear error when it is not there."""
    name = (name or "cpu").lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        raise MmzooError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        build = "this torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise MmzooError(f"--device {name}: {build}")
    if name == "mps" and not _mps_available():
        raise MmzooError("--device mps: Apple's Metal backend is not available here")
    return torch.device(name)


def device_of(model: torch.nn.Module) -> torch.device:
    """Where a model's first parameter (or buffer) lives; cpu for an empty one."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def autocast(device: torch.device) -> Any:
    """bf16 autocast on a CUDA GPU that supports it; nothing elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
