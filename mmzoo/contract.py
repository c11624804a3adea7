"""The model contract and the ONNX contract, in one torch-free place.

Every side reads these: the models and plugins (how they declare themselves),
training and loss (windows or sequences), export (which graph to write),
the test kit, and the onnxruntime path (what a file must say). docs/plugins.md
and docs/onnx.md are the prose of this module; change one, change the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

# -- the model contract (docs/plugins.md) ------------------------------------

WINDOW, SEQUENCE, STEP = "window", "sequence", "step"
MODES = (WINDOW, SEQUENCE, STEP)
DEFAULT_MODE = SEQUENCE  # what a model without `input_mode` is taken to be
GENERATE = "generate"  # a generator file's `mmzoo.input`: whole items in one call (not a model mode)


def input_mode_of(model: Any) -> str:
    """The model's declared input mode; a model that declares none is a sequence model."""
    return str(getattr(model, "input_mode", DEFAULT_MODE))


def is_window(model: Any) -> bool:
    """Window models train on (last C tokens, next token) pairs instead of whole items."""
    return input_mode_of(model) == WINDOW


def context_length_of(model: Any) -> int:
    """How many tokens the model reads (its `context_length`), as a plain int."""
    return int(model.context_length)


class WindowNet(Protocol):
    """A window model's export entry point: the last C tokens -> next-token logits."""

    def next_logits(self, ctx: torch.Tensor) -> torch.Tensor: ...


class StepNet(Protocol):
    """A step model's export entry points: one token per call, state carried between calls."""

    def step(self, idx: torch.Tensor, pos: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]: ...

    def onnx_state(self, batch: int) -> list[StateSpec]: ...


@dataclass
class StateSpec:
    """One state tensor of a step model, as `onnx_state(batch)` returns it.

    Batch-first; `example` is a non-empty tensor used to trace the step graph;
    `axes` names its symbolic axes besides the batch (axis 0), e.g. {2: "past"}
    for a growing key/value cache. The ONNX inputs are named `name`, the outputs
    `name_out`."""

    name: str
    example: torch.Tensor
    axes: dict[int, str] = field(default_factory=dict)


# -- the data contract -------------------------------------------------------

BOUNDARY = "."  # token 0: starts and ends every item
SPLIT_SEED = 42  # the lectures' random.seed(42)
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, val, test

# -- the ONNX contract (docs/onnx.md) -----------------------------------------

FORMAT_VERSION = "1"
DEFAULT_OPSET = 20

# Required metadata_props, all strings.
REQUIRED_KEYS = (
    "mmzoo.format",
    "mmzoo.model",
    "mmzoo.vocab",
    "mmzoo.input",
    "mmzoo.context_length",
    "mmzoo.state",
    "mmzoo.max_length",
    "mmzoo.val_loss",
    "mmzoo.data_sha256",
    "mmzoo.config",
    "mmzoo.bn_folded",
    "mmzoo.calibrated",
)
