"""A generator file from an exported step/window/sequence file: whole items in one
onnxruntime call (docs/onnx.md, "Generator files").

    (uniforms[B, L] float32, temperature float32, top_k int64) -> tokens[B, L] int64, vocab[V] int32

Built from the ONNX graph alone (no torch, no retraining), so the committed pretrained
files turn into generators too. The wrapped graph's nodes become the body of an ONNX
`Loop` that runs at most L = max_length iterations and stops once every row has drawn
the boundary token; its initializers stay in the outer graph, where the body reads them.
"""

from __future__ import annotations

import json
from typing import Any

import onnx
from onnx import GraphProto, ModelProto, NodeProto, TensorProto, helper

from mmzoo.contract import GENERATE, SEQUENCE, STEP, WINDOW
from mmzoo.errors import MmzooError
from mmzoo.graphs.generate_body import (
    BOOL,
    DOUBLE,
    FLOAT,
    INT64,
    BodyParts,
    body_constants,
    node,
    sampling_nodes,
    sequence_parts,
    step_parts,
    untyped,
    window_parts,
)

GENERATE_INPUTS = ("uniforms", "temperature", "top_k")
GENERATE_OUTPUTS = ("tokens", "vocab")


def metadata_of(proto: ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def build_generator(proto: ModelProto) -> ModelProto:
    """The generator for one exported file (its ModelProto); raises MmzooError on a file
    that is not an mmzoo step/window/sequence export."""
    props = metadata_of(proto)
    mode = props.get("mmzoo.input")
    if mode == GENERATE:
        raise MmzooError("this file is already a generator")
    if mode not in (WINDOW, SEQUENCE, STEP):
        raise MmzooError(f"cannot build a generator from input mode {mode!r}")
    vocab: list[str] = json.loads(props["mmzoo.vocab"])
    if any(len(tok) != 1 for tok in vocab):
        raise MmzooError("the generator's vocab output holds one code point per token; this vocabulary has longer ones")
    L, C, V = int(props["mmzoo.max_length"]), int(props["mmzoo.context_length"]), len(vocab)
    states = [(s["input"], s["output"]) for s in json.loads(props["mmzoo.state"])]
    parts = {WINDOW: lambda: window_parts(C), SEQUENCE: lambda: sequence_parts(C), STEP: lambda: step_parts(states)}
    adapter = parts[mode]()
    keepdims = mode != STEP  # window and sequence bodies append pick[B, 1] as a column
    outer = [
        *_outer_nodes(V, L, C, keepdims),
        *_initial_values(proto.graph, adapter, mode, batch1=True),
        node(
            "If",
            ["gen/alone_plain"],
            ["tokens"],
            then_branch=_alone(proto.graph, adapter, keepdims, L),
            else_branch=_batched(proto.graph, adapter, mode, keepdims),
        ),
        node("Constant", [], ["vocab"], value=helper.make_tensor("vocab", TensorProto.INT32, [V], _codes(vocab))),
    ]
    graph = helper.make_graph(
        _used_only(outer),
        f"{props['mmzoo.model']}-generate",
        [
            helper.make_tensor_value_info("uniforms", FLOAT, ["batch", L]),
            helper.make_tensor_value_info("temperature", FLOAT, []),
            helper.make_tensor_value_info("top_k", INT64, []),
        ],
        [
            helper.make_tensor_value_info("tokens", INT64, ["batch", L]),
            helper.make_tensor_value_info("vocab", TensorProto.INT32, [V]),
        ],
        initializer=list(proto.graph.initializer),
    )
    model = helper.make_model(graph, opset_imports=list(proto.opset_import), producer_name="mmzoo")
    model.ir_version = proto.ir_version
    for key, value in {**props, "mmzoo.input": GENERATE, "mmzoo.generate_from": mode}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    return model


def _codes(vocab: list[str]) -> list[int]:
    return [ord(tok) for tok in vocab]


def _loop(graph: GraphProto, adapter: BodyParts, keepdims: bool, top_k: bool, temperature: bool) -> NodeProto:
    """A batched Loop -> gen/picks [N, B(, 1)], N <= L iterations ran."""
    return node(
        "Loop",
        ["gen/trips", "gen/true", "gen/alive0", *(c.initial for c in adapter.carried)],
        [*(f"gen/final{i}" for i in range(len(adapter.carried) + 1)), "gen/picks"],
        body=_body(graph, adapter, keepdims, top_k, temperature, alone=False),
    )


def _alone(graph: GraphProto, adapter: BodyParts, keepdims: bool, L: int) -> GraphProto:
    """Batch 1, temperature 1, no top-k (what a caller asks for one item at a time): no
    `alive` to carry, the Loop stops when the row draws 0, the initial values are
    constants. The body scans le64 [1, V] (the draw is its sum), so that the token it feeds
    back needs no copy: one ReduceSum per call instead of an Identity per token."""
    loop = node(
        "Loop",
        ["gen/trips", "gen/true", *(f"{c.initial}_1" for c in adapter.carried)],
        [*(f"gen/final{i}" for i in range(len(adapter.carried))), "gen/le_all"],
        body=_body(graph, adapter, keepdims, top_k=False, temperature=False, alone=True),
    )
    nodes = [
        loop,
        node("ReduceSum", ["gen/le_all", "gen/axis2"], ["gen/picks1"], keepdims=0),  # [N, 1]
        node("Transpose", ["gen/picks1"], ["gen/picks1_t"], perm=[1, 0]),
        node("Concat", ["gen/picks1_t", "gen/zeros_1L"], ["gen/padded1"], axis=1),  # [1, N + L]
        node("Slice", ["gen/padded1", "gen/zero1", "gen/L1", "gen/one1"], ["tokens"]),
    ]
    return helper.make_graph(nodes, "alone", [], [untyped("tokens", INT64)])


def _batched(graph: GraphProto, adapter: BodyParts, mode: str, keepdims: bool) -> GraphProto:
    """Any batch, any temperature and top-k: the initial values for B rows, then three
    Loops, each with only the sampling ops it needs (every op in the body runs once per
    token): temperature 1 without top-k; top-k (with the division, exact for a temperature
    of 1); the temperature alone. Their bodies share the wrapped graph's weights, which
    stay in the outer graph."""
    # what only a variant reads is made inside its branch: nothing runs for nothing
    by_k = node(
        "If",
        ["gen/k_on"],
        ["gen/picks"],
        then_branch=helper.make_graph(
            [node("Reshape", ["top_k", "gen/one1"], ["gen/k"]), _loop(graph, adapter, keepdims, True, True)],
            "top_k",
            [],
            [untyped("gen/picks", INT64)],
        ),
        else_branch=helper.make_graph(
            [_loop(graph, adapter, keepdims, False, True)], "temperature", [], [untyped("gen/picks", INT64)]
        ),
    )
    other = helper.make_graph(
        [  # top-k is on when 0 < top_k < V (as in choose); else no token is masked
            node("Greater", ["top_k", "gen/zero"], ["gen/k_pos"]),
            node("Less", ["top_k", "gen/V"], ["gen/k_below_v"]),
            node("And", ["gen/k_pos", "gen/k_below_v"], ["gen/k_on"]),
            node("Cast", ["temperature"], ["gen/temperature64"], to=DOUBLE),
            by_k,
        ],
        "other",
        [],
        [untyped("gen/picks", INT64)],
    )
    plain = helper.make_graph(
        [_loop(graph, adapter, keepdims, False, False)], "plain", [], [untyped("gen/picks", INT64)]
    )
    nodes = [
        node("Unsqueeze", ["gen/u64", "gen/axis2"], ["gen/u_all"]),
        *_initial_values(graph, adapter, mode, batch1=False),
        node("If", ["gen/plain"], ["gen/picks"], then_branch=plain, else_branch=other),
        *_tokens(keepdims),
    ]
    return helper.make_graph(nodes, "batched", [], [untyped("tokens", INT64)])


def _tokens(keepdims: bool) -> list[NodeProto]:
    """gen/picks [N, B(, 1)] -> tokens [B, L]: the N picks of each row, then 0s. Pads by L
    and crops to L, which needs no arithmetic on N."""
    nodes = [
        node("Transpose", ["gen/picks"], ["gen/picks_bn"], perm=[1, 0, 2] if keepdims else [1, 0]),
        node("Pad", ["gen/picks_bn", "gen/pads"], ["gen/padded"]),  # [B, N + L(, 1)]
        node("Slice", ["gen/padded", "gen/zero1", "gen/L1", "gen/one1"], ["gen/tokens" if keepdims else "tokens"]),
    ]
    if keepdims:
        nodes.append(node("Squeeze", ["gen/tokens", "gen/axis2"], ["tokens"]))
    return nodes


def _body(
    graph: GraphProto, adapter: BodyParts, keepdims: bool, top_k: bool, temperature: bool, alone: bool
) -> GraphProto:
    """iter, cond, alive, *carried -> cond, alive', *carried', pick: one model call, one draw.
    `alone` (batch 1): iter, cond, *carried -> cond, *carried', le64 (see sampling_nodes)."""
    model_nodes = [_renamed(n, adapter.renames) for n in graph.node]
    logits = adapter.renames.get("logits", "logits")
    sampling = sampling_nodes(logits, keepdims, top_k, temperature, alone)
    nodes = adapter.before + model_nodes + sampling + adapter.after
    alive = [] if alone else [untyped("gen/alive", BOOL)]
    alive_next = [] if alone else [untyped("gen/alive_next", BOOL)]
    inputs = [
        helper.make_tensor_value_info("gen/iter", INT64, []),
        helper.make_tensor_value_info("gen/cond_in", BOOL, []),
        *alive,
        *(untyped(c.inner, c.elem) for c in adapter.carried),
    ]
    outputs = [
        helper.make_tensor_value_info("gen/cond", BOOL, []),
        *alive_next,
        *(untyped(c.nxt, c.elem) for c in adapter.carried),
        untyped("gen/le64" if alone else "gen/pick", INT64),  # scanned; the carried token is gen/drawn
    ]
    return helper.make_graph(nodes, "generate_step", inputs, outputs)


def _renamed(n: NodeProto, renames: dict[str, str]) -> NodeProto:
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
        raise MmzooError(f"cannot wrap a graph whose {n.op_type} node has a subgraph")
    copy = NodeProto()
    copy.CopyFrom(n)
    copy.input[:] = [renames.get(x, x) for x in n.input]
    copy.output[:] = [renames.get(x, x) for x in n.output]
    del copy.metadata_props[:]  # the exporter's stack traces: four body copies would carry four
    return copy


def _outer_nodes(V: int, L: int, C: int, keepdims: bool) -> list[NodeProto]:
    """Everything computed once per call: the batch size, the uniforms as double [B, L, 1],
    which Loop runs; and the constants."""

    def const(name: str, dtype: int, dims: list[int], values: list[Any]) -> NodeProto:
        return node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, values))

    rank = 3 if keepdims else 2
    nodes = body_constants(V) + [
        const("gen/trips", INT64, [], [L]),
        const("gen/true", BOOL, [], [True]),
        const("gen/L1", INT64, [1], [L]),
        const("gen/zero1", INT64, [1], [0]),
        const("gen/zeros_1L", INT64, [1, L], [0] * L),
        const("gen/pads", INT64, [2 * rank], [0] * (rank + 1) + [L] + [0] * (rank - 2)),  # L zeros after axis 1
        const("gen/V", INT64, [], [V]),
        const("gen/one1", INT64, [1], [1]),
        const("gen/big_ctx", INT64, [1], [1 << 30]),
        const("gen/minus_ctx", INT64, [1], [-C]),
        node("Shape", ["uniforms"], ["gen/B1"], start=0, end=1),
        node("Cast", ["uniforms"], ["gen/u64"], to=DOUBLE),
        const("gen/axis2", INT64, [1], [2]),
        const("gen/one_f", FLOAT, [], [1.0]),
        # the plain Loops: temperature 1 and top_k <= 0 (top_k >= V, off too, takes the
        # general branch, which finds it off: two ops fewer here, in every call)
        node("Equal", ["temperature", "gen/one_f"], ["gen/t_one"]),
        node("LessOrEqual", ["top_k", "gen/zero"], ["gen/k_none"]),
        node("And", ["gen/t_one", "gen/k_none"], ["gen/plain"]),
        node("Equal", ["gen/B1", "gen/one1"], ["gen/alone"]),
        node("And", ["gen/plain", "gen/alone"], ["gen/alone_plain"]),
        # every row alive: [1, 1] (or [1]) broadcasts against the batch in the first draw, after
        # which alive is [B, 1] ([B]); a loop-carried value may change shape between iterations
        const("gen/alive0", BOOL, [1, 1] if keepdims else [1], [True]),
    ]
    return _sorted(nodes)


def _initial_values(graph: GraphProto, adapter: BodyParts, mode: str, batch1: bool) -> list[NodeProto]:
    """Zeros: each window column and the history the boundary token, the step token the
    boundary token and every state zeros of its declared shape (a symbolic axis besides
    the batch starts at 0, as mmzoo.runtime.OrtStepper starts it). For B rows (read from
    gen/B1) or, with `batch1`, as constants named <initial>_1."""

    def zeros(name: str, dims: list[int], dtype: int) -> list[NodeProto]:
        if batch1:
            shape = [1, *dims]
            count = 1
            for d in shape:
                count *= d
            return [node("Constant", [], [f"{name}_1"], value=helper.make_tensor(name, dtype, shape, [0] * count))]
        value = helper.make_tensor("z", dtype, [1], [0])
        if not dims:  # [B]
            return [node("ConstantOfShape", ["gen/B1"], [name], value=value)]
        dims_const = node("Constant", [], [f"{name}_dims"], value=helper.make_tensor(name, INT64, [len(dims)], dims))
        return [
            dims_const,
            node("Concat", ["gen/B1", f"{name}_dims"], [f"{name}_shape"], axis=0),
            node("ConstantOfShape", [f"{name}_shape"], [name], value=value),
        ]

    if mode == WINDOW:  # each column of the window
        return zeros("gen/ctx0", [1], INT64)
    if mode == SEQUENCE:
        return zeros("gen/hist0", [1], INT64)
    nodes = zeros("gen/tok0", [], INT64)
    shapes = {v.name: v.type.tensor_type.shape for v in graph.input}
    for c in adapter.carried[1:]:
        name = c.initial[len("gen/") : -1]
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in shapes[name].dim][1:]
        nodes += zeros(c.initial, dims, FLOAT)
    return nodes


def _used_only(nodes: list[NodeProto]) -> list[NodeProto]:
    """Drop the constants this mode's bodies never read (onnxruntime warns about each)."""

    def reads(graph_nodes: Any) -> set[str]:
        names: set[str] = set()
        for n in graph_nodes:
            names.update(n.input)
            for attr in n.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    names |= reads(sub.node) | {o.name for o in sub.output}
        return names

    used = reads(nodes) | set(GENERATE_OUTPUTS)
    return [n for n in nodes if n.op_type != "Constant" or any(o in used for o in n.output)]


def _sorted(nodes: list[NodeProto]) -> list[NodeProto]:
    """Topological order (a Constant may be listed after its first user)."""
    made = {"uniforms", "temperature", "top_k"}
    out: list[NodeProto] = []
    pending = list(nodes)
    while pending:
        ready = [n for n in pending if all(x in made or not x for x in n.input)]
        if not ready:
            raise MmzooError("generator graph has a cycle")  # a bug in this module, not in the input
        for n in ready:
            out.append(n)
            made.update(n.output)
        pending = [n for n in pending if n not in ready]
    return out


def generator_bytes(data: bytes) -> bytes:
    """A generator file's bytes from an exported file's bytes."""
    proto = onnx.load_from_string(data)
    return build_generator(proto).SerializeToString()
