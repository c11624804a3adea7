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
from dataclasses import dataclass
from typing import Any

import numpy as np
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
    ranked,
    sampling_nodes,
    sequence_parts,
    step_parts,
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
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in proto.graph.input}
    states = [(s["input"], s["output"], ranks[s["input"]]) for s in json.loads(props["mmzoo.state"])]
    parts = {WINDOW: lambda: window_parts(C), SEQUENCE: lambda: sequence_parts(C), STEP: lambda: step_parts(states)}
    adapter = parts[mode]()
    keepdims = mode != STEP  # window and sequence bodies append drawn[B, 1] as a column
    body = Body(proto.graph, adapter, keepdims, V, C)
    outer = [
        *_outer_nodes(L),
        node("If", ["gen/plain"], ["tokens"], then_branch=_plain(body, mode, L), else_branch=_other(body, mode, L)),
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


def const(name: str, dtype: int, dims: list[int], values: list[Any]) -> NodeProto:
    return node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, values))


@dataclass
class Body:
    """What every Loop body is made from: the wrapped graph and how its mode feeds it."""

    graph: GraphProto
    adapter: BodyParts
    keepdims: bool
    vocab_size: int
    context_length: int

    def make(self, top_k: bool, temperature: bool, alone: bool = False) -> GraphProto:
        """iter, cond, alive, *carried -> cond, alive', *carried', pick[B]: one model call,
        one draw. `alone` (batch 1): iter, cond, *carried -> cond, *carried', pick1[1]."""
        adapter = self.adapter
        model_nodes = [_renamed(n, adapter.renames) for n in self.graph.node]
        logits = adapter.renames.get("logits", "logits")
        sampling = sampling_nodes(logits, self.keepdims, top_k, temperature, alone)
        nodes = adapter.before + model_nodes + sampling + adapter.after
        alive = [] if alone else [ranked("gen/alive", BOOL, 1)]
        alive_next = [] if alone else [ranked("gen/alive_next", BOOL, 1)]
        inputs = [
            helper.make_tensor_value_info("gen/iter", INT64, []),
            helper.make_tensor_value_info("gen/cond_in", BOOL, []),
            *alive,
            *(ranked(c.inner, c.elem, c.rank) for c in adapter.carried),
        ]
        outputs = [
            helper.make_tensor_value_info("gen/cond", BOOL, []),
            *alive_next,
            *(ranked(c.nxt, c.elem, c.rank) for c in adapter.carried),
            ranked("gen/pick1" if alone else "gen/pick", INT64, 1),  # scanned; the carried token is gen/drawn
        ]
        read = {x for n in nodes for x in n.input}
        constants = [c for c in body_constants(self.vocab_size, self.context_length) if c.output[0] in read]
        return helper.make_graph(constants + nodes, "generate_step", inputs, outputs)

    def loop(self, top_k: bool = False, temperature: bool = False) -> NodeProto:
        """A batched Loop -> gen/picks [N, B], N <= L iterations ran."""
        carried = self.adapter.carried
        return node(
            "Loop",
            ["gen/trips", "gen/true", "gen/alive0", *(c.initial for c in carried)],
            [*(f"gen/final{i}" for i in range(len(carried) + 1)), "gen/picks"],
            body=self.make(top_k, temperature),
        )


def _branch(nodes: list[NodeProto], name: str, output: str, rank: int) -> GraphProto:
    return helper.make_graph(nodes, name, [], [ranked(output, INT64, rank)])


def _plain(body: Body, mode: str, L: int) -> GraphProto:
    """Temperature 1 without top-k: one row (batch 1, what a caller asks for one item at a
    time) or a batch."""
    alone = _alone(body, mode, L)
    batched = _batched(body, mode, L, [body.loop()], "gen/u64", "plain_batch")
    return _branch(
        [node("If", ["gen/alone"], ["tokens"], then_branch=alone, else_branch=batched)], "plain", "tokens", 2
    )


def _alone(body: Body, mode: str, L: int) -> GraphProto:
    """Batch 1, temperature 1, no top-k: no `alive` to carry, the Loop stops when the row
    draws 0, the initial values are constants."""
    carried = body.adapter.carried
    loop = node(
        "Loop",
        ["gen/trips", "gen/true", *(f"{c.initial}_1" for c in carried)],
        [*(f"gen/final{i}" for i in range(len(carried))), "gen/picks1"],
        body=body.make(top_k=False, temperature=False, alone=True),
    )
    nodes = [
        *_initial_values(body.graph, body.adapter, mode, body.context_length, batch1=True),
        const("gen/a/zeros_1L", INT64, [1, L], [0] * L),
        const("gen/a/start", INT64, [1], [0]),
        const("gen/a/end", INT64, [1], [L]),
        const("gen/a/axis", INT64, [1], [1]),
        const("gen/a/row", INT64, [2], [1, -1]),
        loop,
        node("Reshape", ["gen/picks1", "gen/a/row"], ["gen/picks1_t"]),  # [N, 1] -> [1, N]
        node("Concat", ["gen/picks1_t", "gen/a/zeros_1L"], ["gen/padded1"], axis=1),  # [1, N + L]
        node("Slice", ["gen/padded1", "gen/a/start", "gen/a/end", "gen/a/axis"], ["tokens"]),
    ]
    return _branch(nodes, "alone", "tokens", 2)


def _other(body: Body, mode: str, L: int) -> GraphProto:
    """A temperature other than 1, or top-k: the top-k Loop (with the division, exact for a
    temperature of 1) or the temperature Loop, each with only the sampling ops it needs
    (every op in a body runs once per token; TopK with k = V would double the cost of a
    temperature-only call at batch 1000). Temperature 0 (or NaN), where choose takes the
    first most likely token, is the top-k Loop with k = 1, temperature 1 and uniforms 0:
    every token below the maximum masked, the draw the first one left (a Loop of its own
    for greedy, reading no outer value but the weights, was fed the wrong inputs by
    onnxruntime's OpenVINO EP)."""
    top_k = _batched(body, mode, L, [body.loop(top_k=True, temperature=True)], "gen/u_used", "top_k")
    temperature = _batched(body, mode, L, [body.loop(temperature=True)], "gen/u_used", "temperature")
    nodes = [
        const("gen/o/one", INT64, [], [1]),
        const("gen/o/zero", INT64, [], [0]),
        const("gen/o/vocab", INT64, [], [body.vocab_size]),
        const("gen/o/t_zero", FLOAT, [], [0.0]),
        const("gen/o/u_zero", DOUBLE, [], [0.0]),
        const("gen/o/k_shape", INT64, [1], [1]),
        # choose is greedy when logits / T is not finite: T = 0 or NaN (a float32 T != 0 cannot overflow)
        node("Abs", ["temperature"], ["gen/t_abs"]),
        node("Greater", ["gen/t_abs", "gen/o/t_zero"], ["gen/t_usable"]),
        node("Not", ["gen/t_usable"], ["gen/greedy"]),
        # top-k is on when 0 < top_k < V (as in choose); else no token is masked
        node("Greater", ["top_k", "gen/o/zero"], ["gen/k_pos"]),
        node("Less", ["top_k", "gen/o/vocab"], ["gen/k_below_v"]),
        node("And", ["gen/k_pos", "gen/k_below_v"], ["gen/k_on"]),
        node("Or", ["gen/k_on", "gen/greedy"], ["gen/use_k"]),
        node("Where", ["gen/greedy", "gen/o/one", "top_k"], ["gen/k_used"]),
        node("Reshape", ["gen/k_used", "gen/o/k_shape"], ["gen/k"]),
        node("Where", ["gen/greedy", "gen/one_f", "temperature"], ["gen/t_used"]),
        node("Cast", ["gen/t_used"], ["gen/temperature64"], to=DOUBLE),
        node("Where", ["gen/greedy", "gen/o/u_zero", "gen/u64"], ["gen/u_used"]),
        node("If", ["gen/use_k"], ["tokens"], then_branch=top_k, else_branch=temperature),
    ]
    return _branch(nodes, "other", "tokens", 2)


def _batched(body: Body, mode: str, L: int, loop: list[NodeProto], uniforms: str, name: str) -> GraphProto:
    """Any batch: the initial values for B rows, the Loop (`loop`'s last node, reading
    gen/u_all [B, L, 1] made from `uniforms` [B, L]), then its picks [N, B] as tokens [B, L]:
    each row's N picks, then 0s."""
    nodes = [
        const("gen/b_axis2", INT64, [1], [2]),
        const("gen/b_L1", INT64, [1], [L]),
        const("gen/b_start", INT64, [1], [0]),
        const("gen/b_axis", INT64, [1], [1]),
        node("ConstantOfShape", ["gen/B1"], ["gen/alive0"], value=helper.make_tensor("t", BOOL, [1], [True])),
        node("Unsqueeze", [uniforms, "gen/b_axis2"], ["gen/u_all"]),  # [B, L, 1]: u per row broadcasts
        *_initial_values(body.graph, body.adapter, mode, body.context_length, batch1=False),
        *loop,
        node("Transpose", ["gen/picks"], ["gen/picks_bn"], perm=[1, 0]),
        node("Concat", ["gen/B1", "gen/b_L1"], ["gen/BL"], axis=0),
        node("ConstantOfShape", ["gen/BL"], ["gen/zeros_BL"], value=helper.make_tensor("z", INT64, [1], [0])),
        node("Concat", ["gen/picks_bn", "gen/zeros_BL"], ["gen/padded"], axis=1),  # [B, N + L]
        node("Slice", ["gen/padded", "gen/b_start", "gen/b_L1", "gen/b_axis"], ["tokens"]),
    ]
    return _branch(nodes, name, "tokens", 2)


def _renamed(n: NodeProto, renames: dict[str, str]) -> NodeProto:
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
        raise MmzooError(f"cannot wrap a graph whose {n.op_type} node has a subgraph")
    copy = NodeProto()
    copy.CopyFrom(n)
    copy.input[:] = [renames.get(x, x) for x in n.input]
    copy.output[:] = [renames.get(x, x) for x in n.output]
    del copy.metadata_props[:]  # the exporter's stack traces: five body copies would carry five
    return copy


BELOW_ONE = float(np.nextafter(np.float32(1), np.float32(0)))  # the largest float32 uniform, as choose clamps


def _outer_nodes(L: int) -> list[NodeProto]:
    """Everything computed once per call: the batch size, the uniforms as double [B, L]
    (clamped below 1, as choose clamps them), which Loop runs; and the constants."""
    nodes = [
        const("gen/trips", INT64, [], [L]),
        const("gen/true", BOOL, [], [True]),
        const("gen/zero", INT64, [], [0]),
        const("gen/one1", INT64, [1], [1]),
        const("gen/one_f", FLOAT, [], [1.0]),
        const("gen/below_one", FLOAT, [], [BELOW_ONE]),
        node("Shape", ["uniforms"], ["gen/B1"], start=0, end=1),
        node("Min", ["uniforms", "gen/below_one"], ["gen/u32"]),  # u = 1.0 draws the last token, as in choose
        node("Cast", ["gen/u32"], ["gen/u64"], to=DOUBLE),
        # the plain Loops: temperature 1 and top_k <= 0 (top_k >= V, off too, takes the
        # general branch, which finds it off: two ops fewer here, in every call)
        node("Equal", ["temperature", "gen/one_f"], ["gen/t_one"]),
        node("LessOrEqual", ["top_k", "gen/zero"], ["gen/k_none"]),
        node("And", ["gen/t_one", "gen/k_none"], ["gen/plain"]),
        node("Equal", ["gen/B1", "gen/one1"], ["gen/alone"]),
    ]
    return _sorted(nodes)


def _initial_values(
    graph: GraphProto, adapter: BodyParts, mode: str, context_length: int, batch1: bool
) -> list[NodeProto]:
    """Zeros: each window column and the history the boundary token, the step token the
    boundary token and every state zeros of its declared shape (a symbolic axis besides
    the batch starts at 0, as mmzoo.runtime.OrtStepper starts it). For B rows (read from
    gen/B1) or, with `batch1`, as constants named <initial>_1."""

    def zeros(name: str, dims: list[int], dtype: int) -> list[NodeProto]:
        value = helper.make_tensor("z", dtype, [1], [0])
        if batch1:
            shape = [1, *dims]
            count = 1
            for d in shape:
                count *= d
            if count == 0:  # an empty cache: OpenVINO reads an empty Constant as a scalar
                return [
                    const(f"{name}_1shape", INT64, [len(shape)], shape),
                    node("ConstantOfShape", [f"{name}_1shape"], [f"{name}_1"], value=value),
                ]
            return [node("Constant", [], [f"{name}_1"], value=helper.make_tensor(name, dtype, shape, [0] * count))]
        if not dims:  # [B]
            return [node("ConstantOfShape", ["gen/B1"], [name], value=value)]
        dims_const = node("Constant", [], [f"{name}_dims"], value=helper.make_tensor(name, INT64, [len(dims)], dims))
        return [
            dims_const,
            node("Concat", ["gen/B1", f"{name}_dims"], [f"{name}_shape"], axis=0),
            node("ConstantOfShape", [f"{name}_shape"], [name], value=value),
        ]

    if mode == WINDOW:  # the window, all boundary tokens
        return zeros("gen/ctx0", [context_length], INT64)
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
