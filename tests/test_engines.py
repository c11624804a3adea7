"""Generator files beyond onnxruntime (issue 23): every pretrained .gen.onnx file gives
onnxruntime's tokens under the ONNX reference evaluator (onnx.reference.ReferenceEvaluator,
pure numpy), for the same uniforms, through each of its five Loops: batch 1 at
temperature 1 (the Loop of its own), and a small batch plain, with top-k, with a
temperature alone, and at temperature 0. OpenVINO runs in its own venv (`make engines`,
scripts/engines.py): onnxruntime-openvino replaces the onnxruntime wheel."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import REPO
from onnx.reference import ReferenceEvaluator

from mmzoo.runtime.sampling import uniform_table

ZOO = REPO / "mmzoo" / "pretrained"
MODELS = ["bigram", "bigram-nn", "mlp", "mlp-bn", "wavenet", "rnn", "gru", "bow", "transformer"]
CALLS = [  # (batch, temperature, top_k)
    (1, 1.0, 0),
    (1, 0.8, 5),
    (6, 1.0, 0),
    (6, 0.8, 5),
    (6, 1.3, 0),
    (6, 0.0, 0),
]


def test_every_pretrained_model_is_listed() -> None:
    assert sorted(p.name for p in ZOO.glob("*.gen.onnx")) == sorted(f"names-{m}.gen.onnx" for m in MODELS)


@pytest.mark.parametrize("name", MODELS)  # about a second each at most, in pure numpy
def test_reference_evaluator_gives_onnxruntimes_tokens(name: str) -> None:
    path = ZOO / f"names-{name}.gen.onnx"
    length = int({p.key: p.value for p in onnx.load(str(path)).metadata_props}["mmzoo.max_length"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.disable_prepacking", "1")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    reference = ReferenceEvaluator(str(path))
    for seed, (batch, temperature, top_k) in enumerate(CALLS):
        for first in range(0, 3 if batch == 1 else 1):  # three items one at a time
            feeds = {
                "uniforms": uniform_table(seed, np.arange(first, first + batch), length),
                "temperature": np.array(temperature, dtype=np.float32),
                "top_k": np.array(top_k, dtype=np.int64),
            }
            want = session.run(["tokens"], feeds)[0]
            got: Any = reference.run(["tokens"], feeds)
            got = got[0]
            assert got.dtype == want.dtype and got.shape == want.shape == (batch, length)
            assert np.array_equal(got, want), (batch, temperature, top_k, got, want)
            assert (want[:, 0] != 0).any() or temperature == 0  # some row drew a character
