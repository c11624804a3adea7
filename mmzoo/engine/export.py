"""Export a trained model to one self-describing ONNX file (docs/onnx.md):
calibrate BatchNorm, fold it away, export one graph in the model's input mode,
check the graph, then check onnxruntime against torch before the file appears."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from mmzoo.contract import FORMAT_VERSION, SEQUENCE, STEP, WINDOW, StateSpec, input_mode_of, is_window
from mmzoo.engine.batches import SplitTensors
from mmzoo.engine.fold import BatchNormBase, fold_batchnorm
from mmzoo.errors import MmzooError
from mmzoo.fsutil import sync_dir, temp_path, write_synced

PARITY_TOL = 1e-4
FOLD_TOL = 1e-5
STANDARD_DOMAINS = {"", "ai.onnx"}


class WindowGraph(nn.Module):
    """idx[B, C] -> logits[B, V] for the next token."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model.next_logits(idx)


class SequenceGraph(nn.Module):
    """idx[B, T] -> logits[B, V] for the token after the last position."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)[:, -1, :]


class StepGraph(nn.Module):
    """(idx[B], pos, *state) -> (logits[B, V], *new_state): one token per call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor, pos: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.step(idx, pos, *state))


@dataclass
class GraphPlan:
    """How one input mode exports: the wrapper, its example inputs, names, dynamic axes,
    the state pairs for the metadata, and a torch reference for the parity check."""

    wrapper: nn.Module
    example: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_shapes: dict[str, Any]
    dynamic_axes: dict[str, list[int]]  # what must stay symbolic in the saved graph
    state: list[dict[str, str]] = field(default_factory=list)


def plan_for(model: nn.Module) -> GraphPlan:
    mode = input_mode_of(model)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    C = int(model.context_length)
    if mode == WINDOW:
        example = torch.zeros(4, C, dtype=torch.long)
        return GraphPlan(
            WindowGraph(model), (example,), ["idx"], ["logits"], {"idx": {0: batch}}, {"idx": [0], "logits": [0]}
        )
    if mode == SEQUENCE:
        T = torch.export.Dim("T", min=1, max=max(2, C))
        example = torch.zeros(4, min(3, C), dtype=torch.long)
        return GraphPlan(
            SequenceGraph(model),
            (example,),
            ["idx"],
            ["logits"],
            {"idx": {0: batch, 1: T}},
            {"idx": [0, 1], "logits": [0]},
        )
    if mode == STEP:
        return step_plan(model, batch)
    raise MmzooError(f"unknown input_mode {mode!r} on {type(model).__name__}")


def step_plan(model: nn.Module, batch: Any) -> GraphPlan:
    """A step model gives `onnx_state(batch) -> list[StateSpec]` and
    `step(idx[B], pos, *state) -> (logits[B, V], *new_state)`."""
    if not (hasattr(model, "step") and hasattr(model, "onnx_state")):
        raise MmzooError(f"{type(model).__name__} has input_mode 'step' but no step() and onnx_state()")
    B = 3
    states: list[StateSpec] = model.onnx_state(B)
    idx = torch.zeros(B, dtype=torch.long)
    pos = torch.tensor(2, dtype=torch.long)
    dims: dict[str, Any] = {}
    dynamic: dict[str, Any] = {"idx": {0: batch}, "pos": None}
    must: dict[str, list[int]] = {"idx": [0], "logits": [0]}
    for s in states:
        axes: dict[int, Any] = {0: batch}
        for axis, dim_name in s.axes.items():
            dims.setdefault(dim_name, torch.export.Dim(dim_name, min=0, max=1 << 16))
            axes[axis] = dims[dim_name]
        dynamic[s.name] = axes
        must[s.name] = [0, *s.axes]
        must[f"{s.name}_out"] = [0]
    return GraphPlan(
        StepGraph(model),
        (idx, pos, *(s.example for s in states)),
        ["idx", "pos", *(s.name for s in states)],
        ["logits", *(f"{s.name}_out" for s in states)],
        {"idx": dynamic["idx"], "pos": None, "state": tuple(dynamic[s.name] for s in states)},
        must,
        [{"input": s.name, "output": f"{s.name}_out"} for s in states],
    )


def to_onnx(plan: GraphPlan, opset: int) -> Any:
    """The ModelProto, inline weights, standard ops only."""
    import logging
    import warnings

    for noisy in ("torch.onnx", "onnxscript", "onnx_ir"):  # their own warnings and tracebacks
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            plan.wrapper,
            plan.example,
            dynamo=True,
            external_data=False,
            opset_version=opset,
            input_names=plan.input_names,
            output_names=plan.output_names,
            dynamic_shapes=plan.dynamic_shapes,
            optimize=True,
            verbose=False,
        )
    return program.model_proto


def check_graph(proto: Any, plan: GraphPlan, opset: int) -> None:
    """What torch's exporter may get silently wrong: leftover BatchNorm, contrib ops, frozen axes,
    and an opset other than the one asked for (it falls back when it cannot convert)."""
    import onnx

    got = [o.version for o in proto.opset_import if o.domain in STANDARD_DOMAINS]
    if got != [opset]:
        raise MmzooError(f"torch's exporter could not produce opset {opset} (it gave {got}); try the default 20")

    ops = [n.op_type for n in proto.graph.node]
    if "BatchNormalization" in ops:
        raise MmzooError("the exported graph still has BatchNormalization nodes")
    odd = sorted({f"{n.domain}::{n.op_type}" for n in proto.graph.node if n.domain not in STANDARD_DOMAINS})
    if odd:
        raise MmzooError(f"the exported graph uses non-standard ops: {', '.join(odd)}")
    shapes = {v.name: v.type.tensor_type.shape for v in list(proto.graph.input) + list(proto.graph.output)}
    for name, axes in plan.dynamic_axes.items():
        if name not in shapes:
            raise MmzooError(f"the exported graph has no {name!r}; it has {', '.join(shapes)}")
        for axis in axes:
            dim = shapes[name].dim[axis]
            if not dim.dim_param:
                raise MmzooError(f"the exporter froze axis {axis} of {name!r} at {dim.dim_value}")
    onnx.checker.check_model(proto, full_check=True)


@dataclass
class ExportReport:
    path: Path
    size_bytes: int
    nodes: int
    parity: dict[str, float]
    val_loss: float
    val_loss_uncalibrated: float
    calibrated: bool
    bn_folded: int
    opset: int
    norm: str = "none"  # mmzoo.norm: batch, layer, group, none

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "nodes": self.nodes,
            "parity_max_abs_diff": self.parity,
            "val_loss": self.val_loss,
            "val_loss_uncalibrated": self.val_loss_uncalibrated,
            "calibrated": self.calibrated,
            "bn_folded": self.bn_folded,
            "opset": self.opset,
            "norm": self.norm,
        }


@dataclass
class ExportInputs:
    """What export needs from a run: the model, its metadata and its data."""

    model: nn.Module
    meta: dict[str, Any]
    train: SplitTensors
    val: SplitTensors


def export_model(src: ExportInputs, out: Path, opset: int, calibrate: bool) -> ExportReport:
    from mmzoo.engine.calibrate import calibrate_batchnorm
    from mmzoo.engine.loss import split_loss
    from mmzoo.engine.norms import norm_kinds, norm_label

    model = copy.deepcopy(src.model).eval()
    norm = norm_label(norm_kinds(model))
    probe = _probe(model, src.val)
    val_before = split_loss(model, src.val.x, src.val.y)
    has_bn = any(isinstance(m, BatchNormBase) for m in model.modules())
    calibrated = bool(calibrate and has_bn)
    if calibrated:
        calibrate_batchnorm(model, lambda m: _run_all(m, src.train), probe)
    val_after = split_loss(model, src.val.x, src.val.y)
    folded, n_folded = fold_batchnorm(model, probe)
    _check_fold(model, folded, src.val, is_window(model))

    plan = plan_for(folded)
    try:
        proto = to_onnx(plan, opset)
    except MmzooError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()
        raise MmzooError(f"torch.onnx.export failed: {type(exc).__name__}: {first[0] if first else ''}") from None
    meta = src.meta
    props = {
        "mmzoo.format": FORMAT_VERSION,
        "mmzoo.model": meta["model"],
        "mmzoo.vocab": json.dumps(meta["vocab"], ensure_ascii=False),
        "mmzoo.input": input_mode_of(folded),
        "mmzoo.context_length": str(int(folded.context_length)),
        "mmzoo.state": json.dumps(plan.state),
        "mmzoo.max_length": str(meta["max_length"]),
        "mmzoo.val_loss": f"{val_after:.6f}",
        "mmzoo.val_loss_uncalibrated": f"{val_before:.6f}",
        "mmzoo.data_sha256": meta["data"]["sha256"],
        "mmzoo.data_source": meta["data"]["source"],
        "mmzoo.split_seed": str(meta["split"]["seed"]),
        "mmzoo.config": json.dumps(meta["config"]),
        "mmzoo.bn_folded": "true" if n_folded else "false",
        "mmzoo.bn_layers": str(n_folded),
        "mmzoo.norm": norm,
        "mmzoo.calibrated": "true" if calibrated else "false",
        "mmzoo.opset": str(opset),
        "mmzoo.version": meta.get("mmzoo_version", ""),
    }
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "mmzoo"
    check_graph(proto, plan, opset)
    data = proto.SerializeToString()

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(out)
    try:
        write_synced(tmp, data)
        parity = check_parity(tmp, folded, plan, src.val)
        os.replace(tmp, out)
        sync_dir(out.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(
        out, len(data), len(proto.graph.node), parity, val_after, val_before, calibrated, n_folded, opset, norm=norm
    )


def _probe(model: nn.Module, val: Any) -> Callable[[nn.Module], object]:
    """One small forward pass on real val data, for tracing the layers."""

    x = val.x[:64]
    if is_window(model):
        return lambda m: m.next_logits(x)
    return lambda m: m(x[:, : int(model.context_length)])


def _run_all(model: nn.Module, split: Any, chunk: int = 16384) -> None:

    with torch.no_grad():
        for start in range(0, split.x.shape[0], chunk):
            xb = split.x[start : start + chunk]
            if is_window(model):
                model.next_logits(xb)
            else:
                model(xb)


@torch.no_grad()
def _check_fold(model: nn.Module, folded: nn.Module, val: Any, window: bool) -> None:
    if window:
        a, b = model.next_logits(val.x), folded.next_logits(val.x)
    else:
        x = val.x[:2048, : int(model.context_length)]
        a, b = model(x), folded(x)
    diff = float((a - b).abs().max())
    if diff > FOLD_TOL:
        raise MmzooError(f"folded model differs from the original by {diff:.2e} (> {FOLD_TOL:.0e})")


def check_parity(path: Path, folded: nn.Module, plan: GraphPlan, val: Any) -> dict[str, float]:
    """Max |logit diff| between onnxruntime and torch at batch 1 and batch 1000."""
    from mmzoo.runtime import OnnxModel

    onnx_model = OnnxModel(path, ["cpu"])
    mode = onnx_model.metadata.mode
    result = {}
    for batch in (1, 1000):
        session = onnx_model.session_for(batch)
        if mode == STEP:
            diff = _step_parity(session, folded, onnx_model.metadata.state, val.x[:batch], val.y[:batch])
        else:
            x = val.x[:batch] if mode == "window" else val.x[:batch, : min(val.x.shape[1], int(folded.context_length))]
            with torch.no_grad():
                want = plan.wrapper(x).numpy()
            got = session.run(["logits"], {"idx": x.numpy()})[0]
            diff = float(np.abs(got - want).max())
        result[f"batch_{batch}"] = diff
        if not diff <= PARITY_TOL:
            raise MmzooError(f"onnxruntime differs from torch by {diff:.2e} at batch {batch} (> {PARITY_TOL:.0e})")
    return result


@torch.no_grad()
def _step_parity(
    session: Any, model: nn.Module, pairs: list[dict[str, str]], x: torch.Tensor, y: torch.Tensor
) -> float:
    """Step the graph over whole items and compare with the full-sequence torch model."""
    from mmzoo.engine.batches import PAD

    T = int((y != PAD).sum(1).max())
    want = model(x[:, :T]).numpy()  # [B, T, V]
    B = x.shape[0]
    state = {}
    for arg in session.get_inputs():
        if arg.name not in ("idx", "pos"):
            shape = [B if i == 0 else (d if isinstance(d, int) else 0) for i, d in enumerate(arg.shape)]
            state[arg.name] = np.zeros(shape, dtype=np.float32)
    outputs = [o.name for o in session.get_outputs()]
    worst = 0.0
    mask = (y[:, :T] != PAD).numpy()
    for t in range(T):
        feeds = {"idx": x[:, t].numpy(), "pos": np.array(t, dtype=np.int64), **state}
        named = dict(zip(outputs, session.run(None, feeds)))
        for pair in pairs:
            state[pair["input"]] = named[pair["output"]]
        rows = mask[:, t]
        if rows.any():
            worst = max(worst, float(np.abs(named["logits"][rows] - want[rows, t]).max()))
    return worst
