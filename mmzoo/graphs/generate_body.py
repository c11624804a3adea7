"""The pieces of a generator's Loop body: the sampling ops, and how each input mode
feeds the wrapped model one token per iteration.

Torch-free (onnx.helper only), like generate_graph.py that assembles them. Every
name made here starts with `gen/`, so it never meets a name of the wrapped graph.

The sampling ops compute exactly what mmzoo.runtime.sampling.choose computes, in float64:
same division, same top-k rule, same cumulative sum, same comparison, so the same
uniforms give the same tokens as the numpy loop over the step/window file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onnx import NodeProto, TensorProto, ValueInfoProto, helper

INT64, DOUBLE, BOOL, FLOAT = TensorProto.INT64, TensorProto.DOUBLE, TensorProto.BOOL, TensorProto.FLOAT


def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> NodeProto:
    return helper.make_node(op, inputs, outputs, name=outputs[0], **attrs)


@dataclass
class Carried:
    """One loop-carried value: its initial value in the outer graph, its name inside
    the body, and the body value that becomes its next value."""

    initial: str
    inner: str
    nxt: str
    elem: int
    rank: int


@dataclass
class BodyParts:
    """What a mode adapter adds to the body: nodes before the model (to make its inputs),
    nodes after the pick (to make the next carried values), the carried values, and the
    renames of the model's own inputs."""

    before: list[NodeProto] = field(default_factory=list)
    after: list[NodeProto] = field(default_factory=list)
    carried: list[Carried] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)


def sampling_nodes(logits: str, keepdims: bool, top_k: bool, temperature: bool, alone: bool = False) -> list[NodeProto]:
    """logits[B, V] float -> gen/drawn (the token drawn, fed back), gen/pick [B] (drawn, 0 for
    rows already done: the scan output), gen/alive_next [B], gen/cond.

    drawn is [B, 1] with `keepdims` (a window or sequence appends it as a column), else [B].
    Outer-scope inputs: gen/temperature64 (double scalar), gen/k (int64 [1]), gen/u_all
    (double [B, L, 1]; alone, gen/u64 [1, L]); body inputs: gen/iter, gen/alive. Same
    arithmetic as mmzoo.runtime.sampling.choose: x = logits / T; x[x < kth largest] = -inf;
    cdf = cumsum(exp(x - max x)); drawn = #(cdf <= u * cdf[-1]). A variant without top-k
    or without the division (temperature 1) leaves those ops out, which changes no result.

    The scan output is rank 1 per iteration: the ONNX reference evaluator joins scan
    outputs with vstack (onnx/onnx#3122), which stacks [B, 1] slices into [N * B, 1].
    The adapters feed `drawn`, not `pick`, back to the model: a row that has ended gets
    whatever it drew as its next input, not 0, but its picks are 0 whatever the model says
    (rows never mix), and `pick` stays free to be the scan output without an Identity.

    `alone` (a batch of one row): no alive; gen/cond = any(cdf <= target), i.e. drawn > 0,
    in one op; the body scans gen/pick1, drawn as [1]."""
    nodes = [node("Cast", [logits], ["gen/x64"], to=DOUBLE)]
    x = "gen/x64"
    if temperature:
        nodes.append(node("Div", [x, "gen/temperature64"], ["gen/xt"]))
        x = "gen/xt"
    if top_k:
        nodes += [
            node("TopK", [x, "gen/k"], ["gen/topv", "gen/topi"], axis=1),
            node("ReduceMin", ["gen/topv", "gen/b/axis1"], ["gen/kth"], keepdims=1),
            node("Less", [x, "gen/kth"], ["gen/below"]),
            node("Where", ["gen/below", "gen/b/neg_inf", x], ["gen/xk"]),
        ]
        x = "gen/xk"
    nodes += [
        node("ReduceMax", [x, "gen/b/axis1"], ["gen/xmax"], keepdims=1),
        node("Sub", [x, "gen/xmax"], ["gen/z"]),
        node("Exp", ["gen/z"], ["gen/p"]),
        node("CumSum", ["gen/p", "gen/b/axis1_scalar"], ["gen/cdf"]),
        node("Gather", ["gen/cdf", "gen/b/last1"], ["gen/total"], axis=1),  # [B, 1]: cdf[:, V - 1]
        # alone: u64 [1, L] -> [1], which broadcasts against total [1, 1] as [1, 1] would
        node("Gather", ["gen/u64" if alone else "gen/u_all", "gen/iter"], ["gen/u"], axis=1),
        node("Mul", ["gen/u", "gen/total"], ["gen/target"]),
        node("LessOrEqual", ["gen/cdf", "gen/target"], ["gen/le"]),
        node("Cast", ["gen/le"], ["gen/le64"], to=INT64),
        node("ReduceSum", ["gen/le64", "gen/b/axis1"], ["gen/drawn"], keepdims=int(keepdims)),
    ]
    if alone:  # drawn > 0 exactly when some entry of le is true: the row goes on
        return nodes + [
            node("ReduceMax", ["gen/le"], ["gen/cond"], keepdims=0),
            node("Reshape", ["gen/drawn", "gen/b/flat"], ["gen/pick1"]),
        ]
    return nodes + finish_nodes(keepdims)


def finish_nodes(keepdims: bool) -> list[NodeProto]:
    """gen/drawn -> gen/pick [B] (0 for rows already done), gen/alive_next [B], gen/cond."""
    drawn = "gen/drawn"
    nodes = []
    if keepdims:
        nodes.append(node("Reshape", ["gen/drawn", "gen/b/flat"], ["gen/drawn_flat"]))
        drawn = "gen/drawn_flat"
    return nodes + [
        node("Where", ["gen/alive", drawn, "gen/b/zero"], ["gen/pick"]),
        node("Cast", ["gen/pick"], ["gen/alive_next"], to=BOOL),
        node("ReduceMax", ["gen/alive_next"], ["gen/cond"], keepdims=0),
    ]


def body_constants(vocab_size: int, context_length: int) -> list[NodeProto]:
    """The constants a body reads, made inside the body: an engine that converts a Loop
    body on its own (OpenVINO) needs axes, pads and shapes it can see are constant.
    onnxruntime turns them into the body's initializers, so they cost no time per token."""

    def const(name: str, dtype: int, dims: list[int], values: list[Any]) -> NodeProto:
        return node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, values))

    return [
        const("gen/b/axis1", INT64, [1], [1]),
        const("gen/b/axis1_scalar", INT64, [], [1]),
        const("gen/b/last1", INT64, [1], [vocab_size - 1]),
        const("gen/b/zero", INT64, [], [0]),
        const("gen/b/flat", INT64, [1], [-1]),
        const("gen/b/one1", INT64, [1], [1]),
        const("gen/b/neg_inf", DOUBLE, [], [float("-inf")]),
        const("gen/b/big_ctx", INT64, [1], [1 << 30]),
        const("gen/b/minus_ctx", INT64, [1], [-context_length]),
    ]


def window_parts(context_length: int) -> BodyParts:
    """idx[B, C]: the last C tokens, left-padded with the boundary token, carried as one
    [B, C] value that starts as gen/ctx0 (zeros) and slides by a Slice and a Concat. (Carrying
    C columns that slide by renaming saves the Slice, but a body output that is a body input
    is more than OpenVINO takes.)"""
    if context_length == 1:  # the window is the last token
        return BodyParts(carried=[Carried("gen/ctx0", "gen/ctx", "gen/drawn", INT64, 2)], renames={"idx": "gen/ctx"})
    return BodyParts(
        after=[
            node("Slice", ["gen/ctx", "gen/b/one1", "gen/b/big_ctx", "gen/b/axis1"], ["gen/ctx_tail"]),
            node("Concat", ["gen/ctx_tail", "gen/drawn"], ["gen/ctx_next"], axis=1),
        ],
        carried=[Carried("gen/ctx0", "gen/ctx", "gen/ctx_next", INT64, 2)],
        renames={"idx": "gen/ctx"},
    )


def sequence_parts(context_length: int) -> BodyParts:
    """idx[B, T]: every token so far (from the boundary token on), the last C of them."""
    return BodyParts(
        before=[node("Slice", ["gen/hist", "gen/b/minus_ctx", "gen/b/big_ctx", "gen/b/axis1"], ["gen/recent"])],
        after=[node("Concat", ["gen/hist", "gen/drawn"], ["gen/hist_next"], axis=1)],
        carried=[Carried("gen/hist0", "gen/hist", "gen/hist_next", INT64, 2)],
        renames={"idx": "gen/recent"},
    )


def step_parts(states: list[tuple[str, str, int]]) -> BodyParts:
    """(idx[B], pos, *state): the last token, its position (the iteration number), the
    state the previous call returned. `states`: each state input, its output, its rank."""
    carried = [Carried("gen/tok0", "gen/tok", "gen/drawn", INT64, 1)]
    renames = {"idx": "gen/tok", "pos": "gen/iter"}
    for name, out, rank in states:
        carried.append(Carried(f"gen/{name}0", f"gen/s/{name}", f"gen/s/{out}", FLOAT, rank))
        renames[name] = f"gen/s/{name}"
        renames[out] = f"gen/s/{out}"
    return BodyParts(carried=carried, renames=renames)


def ranked(name: str, elem: int, rank: int) -> ValueInfoProto:
    """A value of known rank whose sizes may change from one call or iteration to the next
    (the batch, a growing cache): OpenVINO refuses a value of unknown rank."""
    return helper.make_tensor_value_info(name, elem, [None] * rank)
