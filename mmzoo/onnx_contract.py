"""The ONNX contract (docs/onnx.md): metadata keys and input modes. Torch-free."""

from __future__ import annotations

FORMAT_VERSION = "1"
MODES = ("window", "sequence", "step")
PREFIX = "mmzoo."

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
DEFAULT_OPSET = 20
