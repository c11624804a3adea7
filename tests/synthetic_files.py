"""Small hand-made files that keep the ONNX contract (docs/onnx.md), for testing the
clients where the pretrained zoo has no example: a generate file, and step and
sequence files whose items run past their context_length.

The step and sequence "models" always predict the next letter (after `z` the
boundary token), with near-certainty, so every item is the alphabet whatever the
uniforms; their position table (step) or length check (sequence) has
`context_length` entries and fails with a Gather error past it, like the transformer.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = ["."] + list(LETTERS)
V = len(VOCAB)
ALPHABET = LETTERS  # what every item of the step and sequence files is


def _props(mode: str, context: int, max_length: int, state: list[dict[str, str]]) -> dict[str, str]:
    return {
        "mmzoo.format": "1",
        "mmzoo.model": f"synthetic-{mode}",
        "mmzoo.vocab": json.dumps(VOCAB),
        "mmzoo.input": mode,
        "mmzoo.context_length": str(context),
        "mmzoo.state": json.dumps(state),
        "mmzoo.max_length": str(max_length),
        "mmzoo.val_loss": "0",
        "mmzoo.data_sha256": "0" * 64,
        "mmzoo.config": "{}",
        "mmzoo.bn_folded": "false",
        "mmzoo.calibrated": "false",
    }


def _save(graph: onnx.GraphProto, props: dict[str, str], path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def _next_letter_nodes(token: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """token int64 [batch] -> `next_logits` float [batch, V]: 50 at (token + 1) mod V."""
    nodes = [
        helper.make_node("Add", [token, "one_i"], ["succ"]),
        helper.make_node("Mod", ["succ", "V_i"], ["next"]),
        helper.make_node("Unsqueeze", ["next", "axis1"], ["next_col"]),
        helper.make_node("Equal", ["next_col", "ids"], ["hit"]),
        helper.make_node("Cast", ["hit"], ["hit_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["hit_f", "fifty"], ["next_logits"]),
    ]
    consts = [
        helper.make_tensor("one_i", TensorProto.INT64, [], [1]),
        helper.make_tensor("V_i", TensorProto.INT64, [], [V]),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("ids", TensorProto.INT64, [1, V], list(range(V))),
        helper.make_tensor("fifty", TensorProto.FLOAT, [], [50.0]),
    ]
    return nodes, consts


def step_file(path: Path, context: int = 8, max_length: int = 40) -> Path:
    """idx, pos, h -> logits, h_out; pos indexes a table of `context` rows."""
    nodes, consts = _next_letter_nodes("idx")
    nodes += [
        helper.make_node("Gather", ["table", "pos"], ["row"]),  # [1]: fails for pos >= context
        helper.make_node("Add", ["next_logits", "row"], ["logits"]),
        helper.make_node("Add", ["h", "row"], ["h_out"]),
    ]
    consts.append(helper.make_tensor("table", TensorProto.FLOAT, [context, 1], [0.0] * context))
    graph = helper.make_graph(
        nodes,
        "step",
        [
            helper.make_tensor_value_info("idx", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("pos", TensorProto.INT64, []),
            helper.make_tensor_value_info("h", TensorProto.FLOAT, ["batch", 1]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", V]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["batch", 1]),
        ],
        consts,
    )
    return _save(graph, _props("step", context, max_length, [{"input": "h", "output": "h_out"}]), path)


def sequence_file(path: Path, context: int = 8, max_length: int = 40) -> Path:
    """idx [batch, T] -> logits for the token after the last; a table of `context` rows
    is indexed with T - 1, so T > context fails."""
    nodes, consts = _next_letter_nodes("last")
    nodes = [
        helper.make_node("Shape", ["idx"], ["shape"]),
        helper.make_node("Gather", ["shape", "one_i"], ["T"]),
        helper.make_node("Sub", ["T", "one_i"], ["T1"]),
        helper.make_node("Gather", ["table", "T1"], ["row"]),  # fails for T > context
        helper.make_node("Gather", ["idx", "T1"], ["last"], axis=1),
        *nodes,
        helper.make_node("Add", ["next_logits", "row"], ["logits"]),
    ]
    consts.append(helper.make_tensor("table", TensorProto.FLOAT, [context, 1], [0.0] * context))
    graph = helper.make_graph(
        nodes,
        "sequence",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, ["batch", "T"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", V])],
        consts,
    )
    return _save(graph, _props("sequence", context, max_length, []), path)


def generate_file(path: Path, width: int = 6) -> Path:
    """The generate contract: uniforms, temperature and top_k in; tokens (here 4 letters
    picked by the uniforms, then 0s) and vocab out."""
    codes = [ord(c) for c in VOCAB]
    nodes = [
        helper.make_node("Mul", ["uniforms", "scale"], ["scaled"]),
        helper.make_node("Floor", ["scaled"], ["floored"]),
        helper.make_node("Add", ["floored", "one"], ["letters"]),
        helper.make_node("Mul", ["letters", "mask"], ["masked"]),
        helper.make_node("Cast", ["masked"], ["tokens"], to=TensorProto.INT64),
        helper.make_node("Identity", ["vocab_codes"], ["vocab"]),
    ]
    consts = [
        helper.make_tensor("mask", TensorProto.FLOAT, [width], [1.0] * 4 + [0.0] * (width - 4)),
        helper.make_tensor("scale", TensorProto.FLOAT, [], [26.0]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("vocab_codes", TensorProto.INT32, [len(codes)], codes),
    ]
    graph = helper.make_graph(
        nodes,
        "generate",
        [
            helper.make_tensor_value_info("uniforms", TensorProto.FLOAT, ["batch", width]),
            helper.make_tensor_value_info("temperature", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("top_k", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", width]),
            helper.make_tensor_value_info("vocab", TensorProto.INT32, [len(codes)]),
        ],
        consts,
    )
    return _save(graph, {"mmzoo.input": "generate", "mmzoo.max_length": str(width)}, path)
