"""Execution-provider quirks that the runtime works around (docs/onnx.md, known
provider issues). Each test runs where its provider is installed, and skips elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

TRANSFORMER = REPO / "mmzoo" / "pretrained" / "names-transformer.onnx"


def step_logits(providers: list[str], tokens: np.ndarray) -> np.ndarray:
    """Logits at every position of `tokens` [B, T], through the runtime's own stepper."""
    from mmzoo.runtime import OnnxModel, OrtStepper

    stepper = OrtStepper(OnnxModel(TRANSFORMER, providers))
    stepper.start(tokens.shape[0])
    return np.stack([stepper.feed(tokens[:, t]) for t in range(tokens.shape[1])])


def test_openvino_transformer_cache_agrees_with_cpu() -> None:
    """OpenVINO went wrong from about the 8th cached position on when the session's first
    call had the zero-length cache; the runtime's warm-up call avoids that."""
    import onnxruntime as ort

    if "OpenVINOExecutionProvider" not in ort.get_available_providers():
        pytest.skip("the OpenVINO execution provider is not installed (pip install onnxruntime-openvino)")
    tokens = np.random.default_rng(0).integers(1, 27, size=(3, 40))
    tokens[:, 0] = 0
    cpu = step_logits(["cpu"], tokens)
    openvino = step_logits(["openvino"], tokens)
    np.testing.assert_allclose(openvino, cpu, atol=1e-3)
