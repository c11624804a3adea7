"""Export a trained model to one self-describing ONNX file (docs/onnx.md): check
causality, choose BatchNorm statistics (calibrate.py), export one graph in
the model's input mode, fold BatchNorm out of it (mmzoo/graphs/fold.py), check the graph,
then check folding and onnxruntime against torch (parity.py) before the
file appears."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn as nn

from mmzoo.contract import (
    FORMAT_VERSION,
    SEQUENCE,
    STEP,
    WINDOW,
    StateSpec,
    StepNet,
    WindowNet,
    context_length_of,
    input_mode_of,
)
from mmzoo.engine.data.batches import SplitTensors
from mmzoo.engine.export.calibrate import Statistics, choose_statistics
from mmzoo.engine.export.parity import FOLD_TOL, PARITY_TOL, check_fold, check_parity
from mmzoo.errors import MmzooError
from mmzoo.fsutil import sync_dir, temp_path, write_synced
from mmzoo.graphs.fold import FoldedLayer, fold_graph
from mmzoo.runs.meta import RunMeta

__all__ = ["FOLD_TOL", "PARITY_TOL", "ExportInputs", "ExportReport", "export_model", "plan_for", "to_onnx"]
STANDARD_DOMAINS = {"", "ai.onnx"}


class WindowGraph(nn.Module):
    """idx[B, C] -> logits[B, V] for the next token."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return cast(WindowNet, self.model).next_logits(idx)


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
        return tuple(cast(StepNet, self.model).step(idx, pos, *state))


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
    C = context_length_of(model)
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
    states: list[StateSpec] = cast(StepNet, model).onnx_state(B)
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
    if program is None:
        raise MmzooError("torch.onnx.export returned no program")
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
    stats: Statistics
    folded: list[FoldedLayer]
    fold_diff: float
    opset: int
    norm: str = "none"  # mmzoo.norm: batch, layer, group, none

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "nodes": self.nodes,
            "parity_max_abs_diff": self.parity,
            "val_loss": self.stats.val_loss,
            "val_loss_uncalibrated": self.stats.val_running,
            "val_loss_calibrated": self.stats.val_calibrated,
            "calibrated": self.stats.calibrated,
            "bn_folded": self.stats.layers,
            "fold": [{"layer": f.name, "how": f.how} for f in self.folded],
            "fold_max_abs_diff": self.fold_diff,
            "opset": self.opset,
            "norm": self.norm,
        }


@dataclass
class ExportInputs:
    """What export needs from a run: the model, its metadata and its data."""

    model: nn.Module
    meta: RunMeta
    train: SplitTensors
    val: SplitTensors


def export_model(src: ExportInputs, out: Path, opset: int, calibrate: bool | None) -> ExportReport:
    """calibrate: None keeps the better of calibrated and running statistics, True or False forces."""
    from mmzoo.engine.export.causality import check_causal
    from mmzoo.engine.export.norms import norm_kinds, norm_label

    model = copy.deepcopy(src.model).eval()
    norm = norm_label(norm_kinds(model))
    check_causal(model, len(src.meta.vocab), src.meta.model, "export")
    stats = choose_statistics(model, src.train, src.val, calibrate)
    plan = plan_for(model)
    proto = _export(plan, opset)
    _set_metadata(proto, src.meta, model, plan, stats, opset, norm)  # the graph's passes keep it
    unfolded = proto.SerializeToString()
    folded = fold_graph(proto)
    check_graph(proto, plan, opset)
    fold_diff = check_fold(unfolded, proto, folded, model, plan, src.val)
    data = proto.SerializeToString()

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(out)
    try:
        write_synced(tmp, data)
        parity = check_parity(tmp, model, plan, src.val)
        os.replace(tmp, out)
        sync_dir(out.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(out, len(data), len(proto.graph.node), parity, stats, folded, fold_diff, opset, norm=norm)


def _export(plan: GraphPlan, opset: int) -> Any:
    try:
        return to_onnx(plan, opset)
    except MmzooError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()
        raise MmzooError(f"torch.onnx.export failed: {type(exc).__name__}: {first[0] if first else ''}") from None


def _set_metadata(
    proto: Any, meta: RunMeta, model: nn.Module, plan: GraphPlan, stats: Statistics, opset: int, norm: str
) -> None:
    props = {
        "mmzoo.format": FORMAT_VERSION,
        "mmzoo.model": meta.model,
        "mmzoo.vocab": json.dumps(list(meta.vocab), ensure_ascii=False),
        "mmzoo.input": input_mode_of(model),
        "mmzoo.context_length": str(context_length_of(model)),
        "mmzoo.state": json.dumps(plan.state),
        "mmzoo.max_length": str(meta.max_length),
        "mmzoo.val_loss": f"{stats.val_loss:.6f}",
        "mmzoo.val_loss_uncalibrated": f"{stats.val_running:.6f}",
        "mmzoo.val_loss_calibrated": "" if stats.val_calibrated is None else f"{stats.val_calibrated:.6f}",
        "mmzoo.data_sha256": meta.data.sha256,
        "mmzoo.data_source": meta.data.source,
        "mmzoo.split_seed": str(meta.split_seed),
        "mmzoo.config": json.dumps(meta.config),
        "mmzoo.bn_folded": "true" if stats.layers else "false",
        "mmzoo.bn_layers": str(stats.layers),
        "mmzoo.norm": norm,
        "mmzoo.calibrated": "true" if stats.calibrated else "false",
        "mmzoo.opset": str(opset),
        "mmzoo.version": meta.mmzoo_version,
    }
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "mmzoo"
