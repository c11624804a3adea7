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
from mmzoo.engine.generate_body import (
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
from mmzoo.errors import MmzooError

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
    outer = _outer_nodes(proto.graph, adapter, mode, L, C, V, keepdims) + [
        _variants(proto.graph, adapter, V, keepdims),  # -> gen/picks [N, B(, 1)], N <= L iterations ran
        node("Reshape", ["gen/picks", "gen/keep_n_b"], ["gen/picks_nb"]),
        node("Transpose", ["gen/picks_nb"], ["gen/picks_bn"], perm=[1, 0]),
        node("Shape", ["gen/picks_bn"], ["gen/n_ran"], start=1, end=2),
        node("Sub", ["gen/L1", "gen/n_ran"], ["gen/pad_right"]),
        node("Concat", ["gen/zeros3", "gen/pad_right"], ["gen/pads"], axis=0),
        node("Pad", ["gen/picks_bn", "gen/pads"], ["tokens"]),  # [B, L], 0 after each item
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


def _variants(graph: GraphProto, adapter: BodyParts, V: int, keepdims: bool) -> NodeProto:
    """If top_k is on / if the temperature is not 1: four Loops, each with only the sampling
    ops it needs (every op in the body runs once per token). Their bodies share the
    wrapped graph's weights, which stay in the outer graph."""

    def branch(top_k: bool, temperature: bool) -> GraphProto:
        # what only this variant reads is made inside its branch: nothing runs for nothing
        prep = [node("Cast", ["temperature"], ["gen/temperature64"], to=DOUBLE)] if temperature else []
        prep += [node("Reshape", ["top_k", "gen/one1"], ["gen/k"])] if top_k else []
        loop = node(
            "Loop",
            ["gen/trips", "gen/true", "gen/alive0", *(c.initial for c in adapter.carried)],
            [*(f"gen/final{i}" for i in range(len(adapter.carried) + 1)), "gen/picks"],
            body=_body(graph, adapter, keepdims, top_k, temperature),
        )
        return helper.make_graph([*prep, loop], "generate", [], [untyped("gen/picks", INT64)])

    def split_on_temperature(top_k: bool) -> GraphProto:
        on, off = branch(top_k, True), branch(top_k, False)
        choose = node("If", ["gen/t_one"], ["gen/picks"], then_branch=off, else_branch=on)
        return helper.make_graph([choose], "by_temperature", [], [untyped("gen/picks", INT64)])

    return node(
        "If",
        ["gen/k_on"],
        ["gen/picks"],
        then_branch=split_on_temperature(True),
        else_branch=split_on_temperature(False),
    )


def _body(graph: GraphProto, adapter: BodyParts, keepdims: bool, top_k: bool, temperature: bool) -> GraphProto:
    """iter, cond, alive, *carried -> cond, alive', *carried', pick: one model call, one draw."""
    model_nodes = [_renamed(n, adapter.renames) for n in graph.node]
    logits = adapter.renames.get("logits", "logits")
    nodes = adapter.before + model_nodes + sampling_nodes(logits, keepdims, top_k, temperature) + adapter.after
    scan = "gen/pick"
    if any(c.nxt == scan for c in adapter.carried):  # also carried: the scan output needs its own name
        scan = "gen/pick_out"
        nodes.append(node("Identity", ["gen/pick"], [scan]))
    inputs = [
        helper.make_tensor_value_info("gen/iter", INT64, []),
        helper.make_tensor_value_info("gen/cond_in", BOOL, []),
        untyped("gen/alive", BOOL),
        *(untyped(c.inner, c.elem) for c in adapter.carried),
    ]
    outputs = [
        helper.make_tensor_value_info("gen/cond", BOOL, []),
        untyped("gen/alive_next", BOOL),
        *(untyped(c.nxt, c.elem) for c in adapter.carried),
        untyped(scan, INT64),
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


def _outer_nodes(
    graph: GraphProto, adapter: BodyParts, mode: str, L: int, C: int, V: int, keepdims: bool
) -> list[NodeProto]:
    """Everything computed once per call: the batch size, the uniforms as double [B, L, 1],
    the temperature as double, the effective k, which Loop runs, the initial carried values."""

    def const(name: str, dtype: int, dims: list[int], values: list[Any]) -> NodeProto:
        return node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, values))

    nodes = body_constants(V) + [
        const("gen/trips", INT64, [], [L]),
        const("gen/true", BOOL, [], [True]),
        const("gen/L1", INT64, [1], [L]),
        const("gen/zeros3", INT64, [3], [0, 0, 0]),
        const("gen/V", INT64, [], [V]),
        const("gen/one1", INT64, [1], [1]),
        const("gen/big_ctx", INT64, [1], [1 << 30]),
        const("gen/minus_ctx", INT64, [1], [-C]),
        node("Shape", ["uniforms"], ["gen/B1"], start=0, end=1),
        node("Cast", ["uniforms"], ["gen/u64"], to=DOUBLE),
        node("Unsqueeze", ["gen/u64", "gen/axis2"], ["gen/u_all"]),
        const("gen/axis2", INT64, [1], [2]),
        const("gen/one_f", FLOAT, [], [1.0]),
        node("Equal", ["temperature", "gen/one_f"], ["gen/t_one"]),
        const("gen/keep_n_b", INT64, [2], [0, -1]),
        # top-k is on when 0 < top_k < V (as in choose); else no token is masked
        node("Greater", ["top_k", "gen/zero"], ["gen/k_pos"]),
        node("Less", ["top_k", "gen/V"], ["gen/k_below_v"]),
        node("And", ["gen/k_pos", "gen/k_below_v"], ["gen/k_on"]),
        # every row alive: [1, 1] (or [1]) broadcasts against the batch in the first draw, after
        # which alive is [B, 1] ([B]); a loop-carried value may change shape between iterations
        const("gen/alive0", BOOL, [1, 1] if keepdims else [1], [True]),
    ]
    return _sorted(nodes + _initial_values(graph, adapter, mode, C))


def _initial_values(graph: GraphProto, adapter: BodyParts, mode: str, C: int) -> list[NodeProto]:
    """Zeros: the window all boundary tokens, the history one boundary token, the step
    token the boundary token and every state zeros of its declared shape (a symbolic axis
    besides the batch starts at 0, as mmzoo.runtime.OrtStepper starts it)."""

    def zeros(name: str, dims: list[str], dtype: int) -> list[NodeProto]:
        value = helper.make_tensor("z", dtype, [1], [0])
        return [
            node("Concat", ["gen/B1", *dims], [f"{name}_shape"], axis=0),
            node("ConstantOfShape", [f"{name}_shape"], [name], value=value),
        ]

    def fixed(name: str, values: list[int]) -> NodeProto:
        return node("Constant", [], [name], value=helper.make_tensor(name, INT64, [len(values)], values))

    if mode == WINDOW:
        return [fixed("gen/ctx_dims", [C]), *zeros("gen/ctx0", ["gen/ctx_dims"], INT64)]
    if mode == SEQUENCE:
        return [fixed("gen/hist_dims", [1]), *zeros("gen/hist0", ["gen/hist_dims"], INT64)]
    nodes = zeros("gen/tok0", [], INT64)
    shapes = {v.name: v.type.tensor_type.shape for v in graph.input}
    for c in adapter.carried[1:]:
        name = c.initial[len("gen/") : -1]
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in shapes[name].dim][1:]
        nodes += [fixed(f"{c.initial}_dims", dims), *zeros(c.initial, [f"{c.initial}_dims"], FLOAT)]
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
