"""The two checks export makes before a file appears: the folded graph against the
unfolded one (both under onnxruntime, 1e-5), then the written file against the
unfolded torch model (1e-4), each on real val data at batch 1 and 1000."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn as nn

from mmzoo.contract import STEP, WINDOW, context_length_of, input_mode_of
from mmzoo.engine.data.batches import PAD
from mmzoo.errors import MmzooError
from mmzoo.graphs.fold import FoldedLayer, fold_graph

PARITY_TOL = 1e-4
FOLD_TOL = 1e-5
FOLD_CHECK_ROWS = 512


def graph_logits(session: Any, mode: str, pairs: list[dict[str, str]], x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """What the graph answers on real items: [B, V] for window and sequence graphs
    (x already cut to the graph's input), [B, T, V] for a step graph stepped over x."""
    if mode != STEP:
        return session.run(["logits"], {"idx": x.numpy()})[0]
    T = int((y != PAD).sum(1).max())
    B = x.shape[0]
    state = {}
    for arg in session.get_inputs():
        if arg.name not in ("idx", "pos"):
            shape = [B if i == 0 else (d if isinstance(d, int) else 0) for i, d in enumerate(arg.shape)]
            state[arg.name] = np.zeros(shape, dtype=np.float32)
    outputs = [o.name for o in session.get_outputs()]
    steps = []
    for t in range(T):
        feeds = {"idx": x[:, t].numpy(), "pos": np.array(t, dtype=np.int64), **state}
        named = dict(zip(outputs, session.run(None, feeds)))
        for pair in pairs:
            state[pair["input"]] = named[pair["output"]]
        steps.append(named["logits"])
    return np.stack(steps, 1)


def graph_input(mode: str, context_length: int, x: torch.Tensor) -> torch.Tensor:
    return x if mode in (WINDOW, STEP) else x[:, : min(x.shape[1], context_length)]


def _session(model: bytes | Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _max_diff(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> float:
    if mask is not None:  # step graphs: real positions only
        a, b = a[mask], b[mask]
    return float(np.abs(a - b).max()) if a.size else 0.0


def check_fold(
    unfolded: bytes, folded: onnx.ModelProto, layers: list[FoldedLayer], model: nn.Module, plan: Any, val: Any
) -> float:
    """Max |logit change| folding made; over FOLD_TOL, refuse naming the layer to blame."""
    if not layers:
        return 0.0
    mode, pairs = input_mode_of(model), plan.state
    x, y = graph_input(mode, context_length_of(model), val.x[:FOLD_CHECK_ROWS]), val.y[:FOLD_CHECK_ROWS]
    mask = (y[:, : int((y != PAD).sum(1).max())] != PAD).numpy() if mode == STEP else None
    want = graph_logits(_session(unfolded), mode, pairs, x, y)
    diff = _max_diff(graph_logits(_session(folded.SerializeToString()), mode, pairs, x, y), want, mask)
    if diff <= FOLD_TOL:
        return diff
    for layer in layers:  # fold one at a time to find the culprit
        alone = onnx.load_from_string(unfolded)
        fold_graph(alone, only={layer.node})
        one = _max_diff(graph_logits(_session(alone.SerializeToString()), mode, pairs, x, y), want, mask)
        if one > FOLD_TOL:
            raise MmzooError(
                f"folding BatchNorm {layer.name} {layer.how} moves the logits by {one:.2e} (> {FOLD_TOL:.0e}): "
                "its statistics are too extreme to fold in float32; export with --no-calibrate or retrain"
            )
    raise MmzooError(f"folding the BatchNorm layers moves the logits by {diff:.2e} (> {FOLD_TOL:.0e})")


def check_parity(path: Path, model: nn.Module, plan: Any, val: Any) -> dict[str, float]:
    """Max |logit diff| between onnxruntime and the unfolded torch model at batch 1 and 1000."""
    from mmzoo.runtime import OnnxModel

    onnx_model = OnnxModel(path, ["cpu"])  # the sessions the sampler itself uses
    mode = input_mode_of(model)
    result = {}
    for batch in (1, 1000):
        session = onnx_model.session_for(batch)
        x, y = graph_input(mode, context_length_of(model), val.x[:batch]), val.y[:batch]
        if mode == STEP:
            diff = step_parity(session, model, plan.state, x, y)
        else:
            with torch.no_grad():
                want = plan.wrapper(x).numpy()
            diff = _max_diff(graph_logits(session, mode, plan.state, x, y), want, None)
        result[f"batch_{batch}"] = diff
        if not diff <= PARITY_TOL:
            raise MmzooError(f"onnxruntime differs from torch by {diff:.2e} at batch {batch} (> {PARITY_TOL:.0e})")
    return result


@torch.no_grad()
def step_parity(session: Any, model: nn.Module, pairs: list[dict[str, str]], x: torch.Tensor, y: torch.Tensor) -> float:
    """Step the graph over whole items and compare with the full-sequence torch model."""
    got = graph_logits(session, STEP, pairs, x, y)  # [B, T, V]
    T = got.shape[1]
    return _max_diff(got, model(x[:, :T]).numpy(), (y[:, :T] != PAD).numpy())
