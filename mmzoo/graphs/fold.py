"""Fold every BatchNormalization out of an exported ONNX graph.

Folding works on the graph torch exported, not on the torch modules, so it
covers whatever the tracer saw: any module layout, a functional batch_norm, the
window, sequence and step graphs alike. torch's exporter already runs
onnxscript's rewrite rules, which fold a BatchNorm straight after a Conv,
ConvTranspose or Gemm. This pass does the rest:

- a BatchNorm reached from a MatMul (with or without its bias Add), Gemm, Conv
  or ConvTranspose through shape-only ops (Transpose, Reshape, Flatten,
  Squeeze, Unsqueeze, Identity) scales that op's weights per output channel
  and shifts its bias (a new Add after a bias-less MatMul);
- any other BatchNorm becomes a per-channel Mul and Add.

Export then checks the folded graph against the unfolded one (mmzoo/engine/export/parity.py).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from mmzoo.errors import MmzooError

SHAPE_ONLY = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
LINEAR = {"MatMul", "Gemm", "Conv", "ConvTranspose"}
Dim = int | str | None


@dataclass
class FoldedLayer:
    node: str  # the BatchNormalization node's name in the unfolded graph
    name: str  # the torch layer it came from, e.g. blocks.0.bn
    how: str  # "into MatMul via Transpose", "as Mul + Add (follows a Relu)"


def layer_name(node: onnx.NodeProto) -> str:
    """The torch module path torch's exporter recorded for a node, without the export wrapper's `model.`."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            scopes = [s for s in ast.literal_eval(prop.value) if s]
            if len(scopes) >= 2:
                return scopes[-2].removeprefix("model.")
    return node.name


class Graph:
    """A mutable copy of a graph's nodes with who-produces and who-consumes indexes."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        self.proto = proto
        self.nodes = [_copy(n) for n in proto.graph.node]
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
        for n in self.nodes:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.outputs = {o.name for o in proto.graph.output}
        self.shapes = _shapes(proto)
        self.added = 0
        self.reindex()

    def reindex(self) -> None:
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for name in n.input:
                if name:
                    self.consumers.setdefault(name, []).append(n)

    def rank(self, name: str) -> int | None:
        dims = self.shapes.get(name)
        return None if dims is None else len(dims)

    def const(self, base: str, array: np.ndarray, like: np.ndarray) -> str:
        """A new initializer holding `array` in `like`'s dtype; returns its name."""
        name = f"{base}_bnfold{self.added}"
        self.added += 1
        self.proto.graph.initializer.append(numpy_helper.from_array(array.astype(like.dtype), name))
        self.consts[name] = array
        return name

    def insert_after(self, anchor: onnx.NodeProto, *new: onnx.NodeProto) -> None:
        at = next(i for i, n in enumerate(self.nodes) if n is anchor) + 1
        self.nodes[at:at] = list(new)

    def write_back(self) -> None:
        used = {name for n in self.nodes for name in n.input} | self.outputs
        self.nodes = [n for n in self.nodes if n.op_type != "Constant" or n.output[0] in used]
        del self.proto.graph.node[:]
        self.proto.graph.node.extend(self.nodes)
        keep = [i for i in self.proto.graph.initializer if i.name in used]
        del self.proto.graph.initializer[:]
        self.proto.graph.initializer.extend(keep)


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    out = onnx.NodeProto()
    out.CopyFrom(node)
    return out


def _shapes(proto: onnx.ModelProto) -> dict[str, list[Dim]]:
    inferred = onnx.shape_inference.infer_shapes(proto)
    graph = inferred.graph
    shapes: dict[str, list[Dim]] = {}
    for v in list(graph.value_info) + list(graph.input) + list(graph.output):
        t = v.type.tensor_type
        if t.HasField("shape"):
            shapes[v.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
    return shapes


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


# -- walking back from a BatchNorm to the op that makes its channels -------------


@dataclass
class Source:
    node: onnx.NodeProto  # MatMul, Gemm, Conv or ConvTranspose
    bias_add: onnx.NodeProto | None  # an Add of a per-channel constant after a MatMul
    via: list[str]


def find_source(g: Graph, x: str) -> Source | str:
    """The linear op whose output channels the BatchNorm input `x` (channels on axis 1)
    carries, through shape-only ops; or why there is none."""
    cur, axis, bias_add = x, 1, None
    via: list[str] = []
    while True:
        if cur in g.outputs or len(g.consumers.get(cur, [])) != 1:
            return "its input is also used by another op"
        node = g.producer.get(cur)
        if node is None:
            return "it reads a graph input"
        op = node.op_type
        if op in LINEAR:
            why = _linear_problem(g, node, axis)
            return why if why else Source(node, bias_add, via)
        if op == "Add" and bias_add is None and _bias_of(g, node, axis) is not None:
            bias_add, cur = node, next(i for i in node.input if i not in g.consts)
            via.append(op)
            continue
        before = _axis_before(g, node, axis) if op in SHAPE_ONLY else None
        if before is None:
            return f"it follows a {op}" + (" that moves its channels" if op in SHAPE_ONLY else "")
        via.append(op)
        cur, axis = node.input[0], before


def _linear_problem(g: Graph, node: onnx.NodeProto, axis: int) -> str | None:
    op = node.op_type
    if len(node.input) < 2 or node.input[1] not in g.consts:
        return f"the {op} before it has no constant weight"
    if op in ("Conv", "ConvTranspose", "Gemm") and axis != 1:
        return f"its channels are not the output channels of the {op} before it"
    if op == "ConvTranspose" and _attr(node, "group", 1) != 1:
        return "it follows a grouped ConvTranspose"
    if op == "MatMul" and (g.consts[node.input[1]].ndim != 2 or axis != (g.rank(node.output[0]) or 0) - 1):
        return "its channels are not the output features of the MatMul before it"
    if op == "Gemm" and len(node.input) > 2 and node.input[2] and _bias_of(g, node, 1) is None:
        return "the Gemm before it has a bias that is not per channel"
    return None


def _bias_of(g: Graph, node: onnx.NodeProto, axis: int) -> np.ndarray | None:
    """The per-channel vector a bias input holds (Add with one constant, Gemm's C), or None."""
    names = [i for i in node.input if i in g.consts]
    if node.op_type == "Add" and len(names) != 1:
        return None
    b = g.consts[names[-1]] if node.op_type == "Add" else g.consts[node.input[2]]
    rank = g.rank(node.output[0])
    if rank is None or b.ndim > rank:
        return None
    dims = [1] * (rank - b.ndim) + list(b.shape)
    if any(d != 1 for i, d in enumerate(dims) if i != axis):
        return None
    return b.reshape(-1) if b.size > 1 else None


def _axis_before(g: Graph, node: onnx.NodeProto, axis: int) -> int | None:
    """Where the channel axis of a shape-only op's output was in its input."""
    op, src, out = node.op_type, node.input[0], node.output[0]
    if op == "Identity":
        return axis
    if op == "Transpose":
        rank = g.rank(src)
        perm = _attr(node, "perm", list(reversed(range(rank))) if rank else None)
        return None if perm is None else int(perm[axis])
    if op in ("Squeeze", "Unsqueeze"):
        listed = node.input[1] if len(node.input) > 1 else None
        axes = g.consts[listed].tolist() if listed in g.consts else _attr(node, "axes", None)
        rank = g.rank(out if op == "Unsqueeze" else src)
        if axes is None or rank is None:
            return None
        axes = [a % rank for a in axes]
        if op == "Unsqueeze":
            return None if axis in axes else axis - sum(a < axis for a in axes)
        return [i for i in range(rank) if i not in axes][axis]
    return _reshape_axis(g.shapes.get(src), g.shapes.get(out), axis)


def _reshape_axis(din: list[Dim] | None, dout: list[Dim] | None, axis: int) -> int | None:
    """A reshape keeps channel c at input axis b when that axis has the same size and
    the same elements follow it (row-major order)."""
    if din is None or dout is None or not isinstance(dout[axis], int):
        return None
    tail = dout[axis + 1 :]
    for b, d in enumerate(din):
        if d == dout[axis] and _same_count(din[b + 1 :], tail):
            return b
    return None


def _same_count(a: list[Dim], b: list[Dim]) -> bool:
    if a == b and all(d is not None for d in a):
        return True
    if not all(isinstance(d, int) for d in a + b):
        return False
    return int(np.prod([d for d in a if isinstance(d, int)])) == int(np.prod([d for d in b if isinstance(d, int)]))


# -- rewriting ---------------------------------------------------------------


def fold_graph(proto: onnx.ModelProto, only: set[str] | None = None) -> list[FoldedLayer]:
    """Fold (in place) every BatchNormalization of `proto`, or those named in `only`."""
    g = Graph(proto)
    folded: list[FoldedLayer] = []
    for bn in [n for n in g.nodes if n.op_type == "BatchNormalization"]:
        if only is not None and bn.name not in only:
            continue
        folded.append(_fold_one(g, bn))
        g.reindex()
    _cancel_transposes(g)
    g.write_back()
    return folded


def _fold_one(g: Graph, bn: onnx.NodeProto) -> FoldedLayer:
    name = layer_name(bn)
    if _attr(bn, "training_mode", 0) or any(o for o in bn.output[1:]):
        raise MmzooError(f"BatchNorm {name} is exported in training mode: cannot fold it")
    missing = [i for i in bn.input[1:5] if i not in g.consts]
    if missing:
        raise MmzooError(f"BatchNorm {name} has statistics that are not constants: cannot fold it")
    gamma, beta, mean, var = (g.consts[i].astype(np.float64) for i in bn.input[1:5])
    scale = gamma / np.sqrt(var + float(_attr(bn, "epsilon", 1e-5)))
    shift = beta - mean * scale
    like = g.consts[bn.input[1]]
    source = find_source(g, bn.input[0])
    if isinstance(source, str):
        _replace_by_mul_add(g, bn, scale, shift, like)
        return FoldedLayer(bn.name, name, f"as Mul + Add ({source})")
    _scale_source(g, source, scale, shift, like)
    _bypass(g, bn)
    via = f" via {', '.join(dict.fromkeys(source.via))}" if source.via else ""
    return FoldedLayer(bn.name, name, f"into {source.node.op_type}{via}")


def _scale_source(g: Graph, src: Source, scale: np.ndarray, shift: np.ndarray, like: np.ndarray) -> None:
    """W' = W * scale per output channel; bias' = bias * scale + shift (the shift goes
    to the Add after a MatMul when there is one, else into the op's own bias)."""
    node = src.node
    w = g.consts[node.input[1]].astype(np.float64)
    axis = {"Conv": 0, "ConvTranspose": 1, "MatMul": w.ndim - 1}.get(node.op_type, 0)
    if node.op_type == "Gemm":
        axis = 0 if _attr(node, "transB", 0) else 1
    shape = [1] * w.ndim
    shape[axis] = -1
    node.input[1] = g.const(node.input[1], w * scale.reshape(shape), g.consts[node.input[1]])
    left = shift
    if src.bias_add is not None:
        add = src.bias_add
        at = next(i for i, name in enumerate(add.input) if name in g.consts)
        old = g.consts[add.input[at]]
        bias = old.astype(np.float64).reshape(-1) * scale + shift
        add.input[at] = g.const(add.input[at], bias.reshape(old.shape), like)
        left = np.zeros_like(shift)
    if node.op_type == "MatMul":
        if src.bias_add is None:
            out = node.output[0]
            node.output[0] = f"{out}_unshifted"
            g.insert_after(node, helper.make_node("Add", [node.output[0], g.const(out, shift, like)], [out]))
        return
    has_bias = len(node.input) > 2 and bool(node.input[2])
    beta = float(_attr(node, "beta", 1.0)) if node.op_type == "Gemm" else 1.0
    bias = beta * _bias_vector(g, node, scale.size) * scale + left if has_bias else left
    name = g.const(node.input[2] if has_bias else node.input[1] + "_bias", bias, like)
    if has_bias:
        node.input[2] = name
    else:
        node.input.append(name)
    for a in node.attribute:
        if a.name == "beta":  # the bias above already carries it
            a.f = 1.0


def _bias_vector(g: Graph, node: onnx.NodeProto, n: int) -> np.ndarray:
    b = g.consts[node.input[2]].astype(np.float64).reshape(-1)
    return np.broadcast_to(b, (n,))


def _bypass(g: Graph, bn: onnx.NodeProto) -> None:
    """Drop a folded BatchNorm: its readers read its input (an Identity keeps a graph output's name)."""
    x, y = bn.input[0], bn.output[0]
    g.nodes = [n for n in g.nodes if n is not bn]
    if y in g.outputs:
        g.nodes.append(helper.make_node("Identity", [x], [y]))
        return
    for reader in g.consumers.get(y, []):
        for i, name in enumerate(reader.input):
            if name == y:
                reader.input[i] = x


def _replace_by_mul_add(g: Graph, bn: onnx.NodeProto, scale: np.ndarray, shift: np.ndarray, like: np.ndarray) -> None:
    rank = g.rank(bn.input[0])
    if rank is None:
        raise MmzooError(f"BatchNorm {layer_name(bn)}: its input has no known rank, cannot rewrite it")
    shape = [-1] + [1] * (rank - 2)
    x, y = bn.input[0], bn.output[0]
    scaled = f"{y}_scaled"
    mul = helper.make_node("Mul", [x, g.const(y + "_scale", scale.reshape(shape), like)], [scaled])
    add = helper.make_node("Add", [scaled, g.const(y + "_shift", shift.reshape(shape), like)], [y])
    g.insert_after(bn, mul, add)
    g.nodes = [n for n in g.nodes if n is not bn]


def _cancel_transposes(g: Graph) -> None:
    """Transpose -> Transpose pairs that undo each other (left where a BatchNorm was) go."""
    for second in [n for n in g.nodes if n.op_type == "Transpose"]:
        first = g.producer.get(second.input[0])
        if first is None or first.op_type != "Transpose" or len(g.consumers.get(first.output[0], [])) != 1:
            continue
        p1, p2 = _attr(first, "perm", None), _attr(second, "perm", None)
        if p1 is None or p2 is None or second.output[0] in g.outputs:
            continue
        if [p1[p] for p in p2] != list(range(len(p2))):
            continue
        for reader in g.consumers.get(second.output[0], []):
            for i, name in enumerate(reader.input):
                if name == second.output[0]:
                    reader.input[i] = first.input[0]
        g.nodes = [n for n in g.nodes if n is not first and n is not second]
        g.reindex()
