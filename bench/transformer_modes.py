"""Why the transformer exports as a step graph with a key/value cache: time both graphs.

    .venv/bin/python bench/transformer_modes.py [--tokens 16] [--repeats 20]

Exports the default transformer (random weights: the timing does not depend on them)
twice, as "step" (one token per call, k/v cache carried) and as "sequence" (the
whole prefix recomputed per token), and times generating `tokens` tokens under
onnxruntime at batch 1 and 64, with the runtime's thread settings.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mmzoo.contract import DEFAULT_OPSET
from mmzoo.engine.export.writer import plan_for, to_onnx
from mmzoo.plugins import get_zoo
from mmzoo.runtime import SMALL_BATCH


def session(proto: object, batch: int) -> object:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1 if batch <= SMALL_BATCH else 0
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])


def time_step(proto: object, batch: int, tokens: int, repeats: int) -> float:
    sess = session(proto, batch)
    states = [a for a in sess.get_inputs() if a.name not in ("idx", "pos")]
    outputs = [o.name for o in sess.get_outputs()]
    best = float("inf")
    for _ in range(repeats):
        state = {
            a.name: np.zeros(
                [batch if i == 0 else (d if isinstance(d, int) else 0) for i, d in enumerate(a.shape)], dtype=np.float32
            )
            for a in states
        }
        idx = np.zeros(batch, dtype=np.int64)
        started = time.perf_counter()
        for t in range(tokens):
            feeds = {"idx": idx, "pos": np.array(t, dtype=np.int64), **state}
            named = dict(zip(outputs, sess.run(None, feeds), strict=True))
            state = {a.name: named[f"{a.name}_out"] for a in states}
            idx = named["logits"].argmax(1)
        best = min(best, time.perf_counter() - started)
    return best / tokens


def time_sequence(proto: object, batch: int, tokens: int, repeats: int) -> float:
    sess = session(proto, batch)
    best = float("inf")
    for _ in range(repeats):
        history = np.zeros((batch, 1), dtype=np.int64)
        started = time.perf_counter()
        for _ in range(tokens):
            logits = sess.run(["logits"], {"idx": history})[0]
            history = np.concatenate([history, logits.argmax(1)[:, None]], axis=1)
        best = min(best, time.perf_counter() - started)
    return best / tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16, help="tokens per item (names: at most 16)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    spec = get_zoo().model("transformer")
    torch.manual_seed(0)
    model = spec.create(spec.config(), 27).eval()
    step = to_onnx(plan_for(model), DEFAULT_OPSET)
    model.input_mode = "sequence"  # the same weights, exported the other way
    sequence = to_onnx(plan_for(model), DEFAULT_OPSET)
    print(f"transformer (default config), {args.tokens} tokens, best of {args.repeats}; time per token:")
    print("| batch | step + k/v cache | sequence (prefix recomputed) |")
    print("|---:|---:|---:|")
    for batch in (1, 64):
        a = time_step(step, batch, args.tokens, args.repeats)
        b = time_sequence(sequence, batch, args.tokens, args.repeats)
        print(f"| {batch} | {a * 1e6:,.0f} us | {b * 1e6:,.0f} us |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
