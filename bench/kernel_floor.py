"""The kernel floor of a training step: how long its compute kernels alone take.

    python bench/kernel_floor.py [DATA] [--models mlp mlp-bn] [--steps 200]

Runs mmzoo's Trainer (each model's default config with dropout 0 and its recipe's
batch, one thread, as bench/train_speed.py does) under torch.profiler and sums,
per step, the self time of the kernels that do the arithmetic: matmuls, the
activations and their backwards, the norms, attention, the loss, the embedding's
backward, the batch gather and AdamW's fused kernel. No Python, autograd or
allocator time is in it, and the makemore-style loop runs the same kernels, so no
loop built on torch's kernels can take a step faster than this: the reference's
ms/step divided by this floor bounds the speed-up any such loop can reach.
Writes bench/results/kernel_floor.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch
from torch.profiler import profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import publish  # noqa: E402
from train_speed import MODELS, bench_config  # noqa: E402

from mmzoo.corpus import load_corpus  # noqa: E402
from mmzoo.engine.training.trainer import Trainer  # noqa: E402
from mmzoo.plugins import get_zoo  # noqa: E402

KERNELS = {
    "aten::mm", "aten::addmm", "aten::bmm", "aten::tanh", "aten::tanh_backward", "aten::sigmoid",
    "aten::sigmoid_backward", "aten::gelu", "aten::gelu_backward", "aten::native_batch_norm",
    "aten::native_batch_norm_backward", "aten::native_layer_norm", "aten::native_layer_norm_backward",
    "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
    "aten::_softmax", "aten::_softmax_backward_data", "aten::_log_softmax", "aten::_log_softmax_backward_data",
    "aten::nll_loss_forward", "aten::nll_loss_backward", "aten::embedding_dense_backward", "aten::index_select",
    "aten::_fused_adamw_",
}  # fmt: skip
WARMUP = 20


def floor_ms(name: str, corpus: object, steps: int, seed: int) -> float:
    spec = get_zoo().model(name)
    recipe = dataclasses.replace(spec.recipe, steps=WARMUP, eval_every=10**9)
    trainer = Trainer(spec, corpus, bench_config(spec), recipe, seed, None, lambda msg: None)  # type: ignore[arg-type]
    trainer.loop()  # warm-up, outside the profile
    trainer.recipe = dataclasses.replace(recipe, steps=WARMUP + steps)
    with profile() as prof:
        trainer.loop()
    micros = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in KERNELS)
    return micros / steps / 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=None, help="corpus (default: the built-in names)")
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = load_corpus(args.data)
    lines = [
        f"Compute-kernel self time per training step, one thread, {args.steps} steps under torch.profiler, "
        f"on {corpus.source} (`python bench/kernel_floor.py`).",
        "",
        "| model | kernel floor ms/step |",
        "|---|---:|",
    ]
    for name in args.models:
        ms = floor_ms(name, corpus, args.steps, args.seed)
        print(f"{name}: {ms:.2f} ms", file=sys.stderr, flush=True)
        lines.append(f"| {name} | {ms:.2f} |")
    publish("kernel_floor", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
