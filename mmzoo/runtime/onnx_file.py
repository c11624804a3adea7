"""An .onnx file checked before onnxruntime sees it (torch-free).

onnxruntime trusts the file: an initializer with external data is read from
wherever its location points (relative to the current directory when the model
is handed over as bytes), and metadata that disagrees with the graph ends in an
IndexError or an InvalidArgument deep in sampling. So before a session is made:
every tensor must be inline, the metadata must be in range, and it must agree
with the graph itself: vocab length = logits width, declared mode = actual inputs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo.checks import MAX_CONTEXT, MAX_ITEM_LIMIT, check_vocab, need_str, parse_int
from mmzoo.contract import FORMAT_VERSION, GENERATE, MODES, REQUIRED_KEYS, SEQUENCE, STEP, WINDOW
from mmzoo.errors import MmzooError
from mmzoo.fsutil import open_regular
from mmzoo.runtime.onnx_schema import model_proto_class

MAX_ONNX_BYTES = 1 << 30  # protobuf itself stops at 2 GiB; mmzoo's models are kilobytes to megabytes
MAX_STATE_ELEMENTS = 1 << 24  # per batch row, over all fixed state dims
INT64, FLOAT, INT32_TYPE = 7, 1, 6  # onnx.TensorProto element types
EXTERNAL = 1  # onnx.TensorProto.EXTERNAL


@dataclass
class CheckedMetadata:
    vocab: list[str]
    mode: str
    context_length: int
    max_length: int
    state: list[dict[str, str]]


def read_checked(path: Path) -> bytes:
    """The file's bytes, once the file has passed every check; else MmzooError."""
    path = Path(path)
    if path.is_dir():
        if (path / "model.json").exists():
            raise MmzooError(f"{path} is a run folder, not an .onnx file: export it first with `mmzoo export {path}`")
        raise MmzooError(f"{path} is a folder, not an .onnx file")
    fd, size = open_regular(path)  # a device (/dev/zero) or a FIFO is refused, never read or waited on
    with os.fdopen(fd, "rb") as f:
        if size > MAX_ONNX_BYTES:
            raise MmzooError(f"{path} is {size:,} bytes: too large for an mmzoo export")
        data = f.read(MAX_ONNX_BYTES + 1)
    if len(data) > MAX_ONNX_BYTES:
        raise MmzooError(f"{path} grew past {MAX_ONNX_BYTES:,} bytes while it was read")
    check_model(parse(data, path), path)
    return data


def parse(data: bytes, path: Path) -> Any:
    proto = model_proto_class()()
    try:
        proto.ParseFromString(data)
    except Exception:  # protobuf's DecodeError and friends
        raise MmzooError(f"{path} cannot be loaded: it is not an ONNX file (it does not parse)") from None
    if not proto.HasField("graph"):
        raise MmzooError(f"{path} is not an ONNX model (it has no graph)")
    return proto


def check_model(proto: Any, path: Path) -> CheckedMetadata:
    inline_only(proto, path)
    props: dict[str, str] = {}
    for entry in proto.metadata_props:
        if entry.key in props:
            raise MmzooError(f"{path} has the metadata key {entry.key!r} twice")
        props[entry.key] = entry.value
    try:
        meta = check_metadata(props)
        check_graph_io(proto.graph, meta)
        check_sizes(proto, meta)
        check_finite(proto)
    except MmzooError as exc:
        raise MmzooError(f"{path}: {exc}") from None
    return meta


def inline_only(proto: Any, path: Path) -> None:
    """Refuse any tensor whose bytes live outside the file."""
    for tensor in _all_tensors(proto):
        if tensor.data_location == EXTERNAL or len(tensor.external_data):
            raise MmzooError(
                f"{path} refers to external data (tensor {tensor.name!r}); mmzoo exports keep every weight "
                "inline and never read other files"
            )


# Inputs that size what a node allocates, when they are constants: (op, input index).
SHAPE_INPUTS = {("ConstantOfShape", 0), ("Expand", 1), ("Tile", 1), ("Resize", 3)}
MAX_CONST_ELEMENTS = 1 << 26  # 256 MB of float32; mmzoo's own graphs stay far below


def check_sizes(proto: Any, meta: CheckedMetadata) -> None:
    """Sizes and trip counts written into the graph, bounded before onnxruntime sees them:
    onnxruntime folds a ConstantOfShape([30000, 30000]) while it loads the file (3.6 GB for
    `mmzoo info`), and runs a Loop of 10**12 trips until killed. A generator's Loops must
    have a constant trip count of at most mmzoo.max_length (docs/generate.md)."""
    consts = _int_constants(proto)
    for node in _all_nodes(proto):
        for op, index in SHAPE_INPUTS:
            if node.op_type == op and len(node.input) > index and node.input[index] in consts:
                size = 1
                for d in consts[node.input[index]]:
                    size *= max(d, 0)
                if size > MAX_CONST_ELEMENTS:
                    raise MmzooError(f"{op} node {node.name[:40]!r} makes {size:,} elements: refused")
        if node.op_type == "Loop":
            trips = consts.get(node.input[0]) if node.input and node.input[0] else None
            if trips is not None and len(trips) == 1 and trips[0] > (MAX_ITEM_LIMIT + 1):
                raise MmzooError(f"Loop node {node.name[:40]!r} runs {trips[0]:,} trips: refused")
            if meta.mode == GENERATE and (trips is None or len(trips) != 1 or trips[0] > meta.max_length):
                raise MmzooError(
                    f"Loop node {node.name[:40]!r} needs a constant trip count of at most mmzoo.max_length "
                    f"({meta.max_length}), got {trips if trips is None else trips[:2]}"
                )


def check_finite(proto: Any) -> None:
    """Refuse a NaN or infinite float weight: such a file samples empty names with exit 0."""
    import numpy as np

    for graph in _all_graphs(proto):
        for t in graph.initializer:
            if t.data_type != FLOAT:
                continue
            values = np.frombuffer(t.raw_data, dtype="<f4") if t.raw_data else np.asarray(t.float_data, np.float32)
            if not np.isfinite(values).all():
                raise MmzooError(f"its weight {t.name[:40]!r} holds NaN or infinite values")


def _int_constants(proto: Any) -> dict[str, list[int]]:
    """name -> values of every small int64/int32 initializer and Constant, in any graph."""
    out: dict[str, list[int]] = {}
    for graph in _all_graphs(proto):
        for t in graph.initializer:
            _add_int(out, t.name, t)
    for node in _all_nodes(proto):
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    _add_int(out, node.output[0], attr.t)
                elif attr.name in ("value_int", "value_ints"):
                    out[node.output[0]] = [attr.i] if attr.name == "value_int" else list(attr.ints)
    return out


def _add_int(out: dict[str, list[int]], name: str, t: Any) -> None:
    count = 1
    for d in t.dims:
        count *= d
    if t.data_type not in (INT64, INT32_TYPE) or count > 16:
        return
    if t.raw_data:
        width = 8 if t.data_type == INT64 else 4
        raw = t.raw_data[: count * width]
        out[name] = [int.from_bytes(raw[i : i + width], "little", signed=True) for i in range(0, len(raw), width)]
    else:
        out[name] = list(t.int64_data if t.data_type == INT64 else t.int32_data)


def _all_graphs(proto: Any) -> Any:
    graphs = [proto.graph]
    while graphs:
        g = graphs.pop()
        yield g
        for n in g.node:
            for attr in n.attribute:
                graphs.extend([attr.g] if attr.HasField("g") else [])
                graphs.extend(attr.graphs)


def _all_nodes(proto: Any) -> Any:
    for g in _all_graphs(proto):
        yield from g.node
    for f in proto.functions:
        yield from f.node


def _all_tensors(proto: Any) -> Any:
    graphs = [proto.graph]
    nodes = [n for f in proto.functions for n in f.node]
    while graphs or nodes:
        if graphs:
            g = graphs.pop()
            yield from g.initializer
            for sparse in g.sparse_initializer:
                yield sparse.values
                yield sparse.indices
            nodes.extend(g.node)
            continue
        for attr in nodes.pop().attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sparse in [*([attr.sparse_tensor] if attr.HasField("sparse_tensor") else []), *attr.sparse_tensors]:
                yield sparse.values
                yield sparse.indices
            graphs.extend([attr.g] if attr.HasField("g") else [])
            graphs.extend(attr.graphs)


def check_metadata(props: dict[str, str]) -> CheckedMetadata:
    """mmzoo's metadata_props, every value range-checked (docs/onnx.md)."""
    if "mmzoo.format" not in props:
        raise MmzooError("no mmzoo metadata: it was not exported by `mmzoo export`")
    if props["mmzoo.format"] != FORMAT_VERSION:
        raise MmzooError(f"mmzoo ONNX format {props['mmzoo.format'][:20]!r}; this mmzoo reads {FORMAT_VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in props]
    if missing:
        raise MmzooError(f"lacks mmzoo metadata: {', '.join(missing)}")
    mode = props["mmzoo.input"]
    if mode not in (*MODES, GENERATE):
        raise MmzooError(f"unknown input mode {mode[:20]!r} (one of {', '.join((*MODES, GENERATE))})")
    meta = CheckedMetadata(
        vocab=check_vocab(_json(props["mmzoo.vocab"], "mmzoo.vocab"), "mmzoo.vocab"),
        mode=mode,
        context_length=parse_int(props["mmzoo.context_length"], 1, MAX_CONTEXT, "mmzoo.context_length"),
        max_length=parse_int(props["mmzoo.max_length"], 1, MAX_ITEM_LIMIT + 1, "mmzoo.max_length"),
        state=_state_pairs(_json(props["mmzoo.state"], "mmzoo.state")),
    )
    if meta.state and mode not in (STEP, GENERATE):  # a generator keeps the state of the step graph it wraps
        raise MmzooError(f"mmzoo.state is only for step models, not {mode}")
    return meta


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MmzooError(f"{what} is not valid JSON") from None


def _state_pairs(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) > 256:
        raise MmzooError("mmzoo.state must be a list of {input, output} pairs")
    for pair in value:
        if not isinstance(pair, dict) or set(pair) != {"input", "output"}:
            raise MmzooError("mmzoo.state must be a list of {input, output} pairs")
        need_str(pair["input"], "mmzoo.state input")
        need_str(pair["output"], "mmzoo.state output")
    return value


def _io(values: Any, skip: frozenset[str] | set[str] = frozenset()) -> dict[str, tuple[int, list[int | str] | None]]:
    """name -> (element type, dims or None); a dim is its size or its symbolic name."""
    out: dict[str, tuple[int, list[int | str] | None]] = {}
    for v in values:
        if v.name in skip:
            continue
        t = v.type.tensor_type
        dims = None
        if t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        out[v.name] = (t.elem_type, dims)
    return out


def check_graph_io(graph: Any, meta: CheckedMetadata) -> None:
    """The declared mode, context length, vocab and state against the graph's own inputs and outputs."""
    inputs = _io(graph.input, {t.name for t in graph.initializer})
    outputs = _io(graph.output)
    if meta.mode == GENERATE:
        _check_generate(inputs, outputs, meta)
        return
    if "logits" not in outputs:
        raise MmzooError(f"the graph has no 'logits' output (outputs: {', '.join(outputs)[:80]})")
    elem, dims = outputs["logits"]
    if elem != FLOAT or dims is None or len(dims) != 2 or dims[1] != len(meta.vocab):
        raise MmzooError(f"logits must be float [batch, {len(meta.vocab)}] to match the vocab, got {dims}")
    expected = {"idx"} | ({"pos"} | {p["input"] for p in meta.state} if meta.mode == STEP else set())
    if set(inputs) != expected:
        raise MmzooError(f"a {meta.mode} model has inputs {sorted(expected)}, the graph has {sorted(inputs)[:8]}")
    elem, dims = inputs["idx"]
    rank = 1 if meta.mode == STEP else 2
    if elem != INT64 or dims is None or len(dims) != rank:
        raise MmzooError(f"'idx' must be int64 of rank {rank} for a {meta.mode} model, got {dims}")
    if meta.mode == WINDOW and dims[1] != meta.context_length:
        raise MmzooError(f"'idx' is [batch, {dims[1]}] but mmzoo.context_length says {meta.context_length}")
    if meta.mode == SEQUENCE and isinstance(dims[1], int):
        raise MmzooError(f"a sequence model's 'idx' must have a free length axis, got {dims}")
    if meta.mode == STEP:
        _check_step(inputs, outputs, meta)


def _check_step(inputs: dict[str, Any], outputs: dict[str, Any], meta: CheckedMetadata) -> None:
    elem, dims = inputs["pos"]
    if elem != INT64 or dims != []:
        raise MmzooError(f"'pos' must be an int64 scalar, got {dims}")
    for pair in meta.state:
        if pair["output"] not in outputs:
            raise MmzooError(f"state output {pair['output'][:40]!r} is not in the graph")
        elem, dims = inputs[pair["input"]]
        if elem != FLOAT or not dims:
            raise MmzooError(f"state input {pair['input'][:40]!r} must be a float tensor with a batch axis")
        size = 1
        for d in dims[1:]:
            size *= d if isinstance(d, int) else 1
        if size > MAX_STATE_ELEMENTS:
            raise MmzooError(f"state input {pair['input'][:40]!r} is too large ({dims})")


GENERATE_INPUTS = {"uniforms": (FLOAT, 2), "temperature": (FLOAT, 0), "top_k": (INT64, 0)}
INT32 = 6  # onnx.TensorProto.INT32


def _check_generate(inputs: dict[str, Any], outputs: dict[str, Any], meta: CheckedMetadata) -> None:
    """A generator file (docs/generate.md): uniforms, temperature, top_k in; tokens and vocab out."""
    if set(inputs) != set(GENERATE_INPUTS):
        raise MmzooError(f"a generate file has inputs {sorted(GENERATE_INPUTS)}, the graph has {sorted(inputs)[:8]}")
    for name, (elem, rank) in GENERATE_INPUTS.items():
        got_elem, dims = inputs[name]
        if got_elem != elem or dims is None or len(dims) != rank:
            raise MmzooError(f"{name!r} has the wrong type or rank for a generate file ({dims})")
    length = inputs["uniforms"][1][1]
    if isinstance(length, int) and length != meta.max_length:  # else onnxruntime's InvalidArgument mid-sampling
        raise MmzooError(f"the graph takes uniforms [batch, {length}] but mmzoo.max_length says {meta.max_length}")
    for name, elem in (("tokens", INT64), ("vocab", INT32)):
        if name not in outputs or outputs[name][0] != elem:
            raise MmzooError(f"a generate file needs an output {name!r} of its documented type")
    vocab_dims = outputs["vocab"][1]
    if vocab_dims is not None and vocab_dims and isinstance(vocab_dims[0], int) and vocab_dims[0] != len(meta.vocab):
        raise MmzooError(f"the graph's vocab has {vocab_dims[0]} entries, mmzoo.vocab {len(meta.vocab)}")
