"""Training step time: mmzoo's loop against a makemore-style loop (bench/reference.py).

    python bench/train_speed.py [DATA] [--models transformer gru] [--steps 100] [--repeats 3]

Same architecture (each model's default config, dropout 0 as makemore has none),
same batch size, lr and corpus split, one thread. mmzoo's time per step is the
difference between two runs of its real Trainer (warm-up steps, then warm-up +
--steps) so that setup, the final eval and the checkpoint cancel out; the
reference's is --steps timed after the same warm-up. Runs are interleaved, and
each figure is a median over --repeats. Prints a markdown table and writes it to
bench/results/train_speed.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference import ReferenceLoop  # noqa: E402
from report import publish  # noqa: E402

from mmzoo.corpus import load_corpus, split_items  # noqa: E402
from mmzoo.engine.training.trainer import Trainer  # noqa: E402
from mmzoo.plugins import get_zoo  # noqa: E402

MODELS = ["transformer", "gru", "wavenet", "mlp", "mlp-bn"]
TARGETS = {"transformer": 2.0, "gru": 2.0, "wavenet": 2.0, "mlp": 5.0, "mlp-bn": 5.0}
WARMUP = 10


def bench_config(spec: Any) -> Any:
    config = spec.config()
    return dataclasses.replace(config, dropout=0.0) if hasattr(config, "dropout") else config


def mmzoo_ms(spec: Any, corpus: Any, steps: int, seed: int) -> float:
    """ms per step of mmzoo's Trainer.run, by the difference of two run lengths."""

    def run(n: int) -> float:
        recipe = dataclasses.replace(spec.recipe, steps=n, eval_every=10**9)
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = Trainer(spec, corpus, bench_config(spec), recipe, seed, Path(run_dir), lambda msg: None)
            started = time.perf_counter()
            trainer.loop()
            return time.perf_counter() - started

    return (run(WARMUP + steps) - run(WARMUP)) / steps * 1e3


def reference_ms(spec: Any, corpus: Any, steps: int, seed: int) -> float:
    train_items = split_items(corpus.items, seed)["train"]
    loop = ReferenceLoop(spec.name, bench_config(spec), train_items, spec.recipe, seed)
    for _ in range(WARMUP):
        loop.step()
    started = time.perf_counter()
    for _ in range(steps):
        loop.step()
    return (time.perf_counter() - started) / steps * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=None, help="corpus (default: the built-in names)")
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(1)
    zoo, corpus = get_zoo(), load_corpus(args.data)
    times: dict[str, dict[str, list[float]]] = {m: {"ref": [], "mmzoo": []} for m in args.models}
    for repeat in range(args.repeats):
        for name in args.models:
            spec = zoo.model(name)
            times[name]["ref"].append(reference_ms(spec, corpus, args.steps, args.seed + repeat))
            times[name]["mmzoo"].append(mmzoo_ms(spec, corpus, args.steps, args.seed + repeat))
            print(f"repeat {repeat + 1}: {name} ref {times[name]['ref'][-1]:.2f} ms, "
                  f"mmzoo {times[name]['mmzoo'][-1]:.2f} ms", file=sys.stderr, flush=True)  # fmt: skip
    lines = [
        f"Per-step time, one thread, {args.steps} steps after {WARMUP} warm-up, median of {args.repeats} "
        f"interleaved repeats, on {corpus.source}.",
        "",
        "| model | batch | makemore-style ms/step | mmzoo ms/step | speed-up | per-repeat speed-ups | target |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in args.models:
        ref, ours = statistics.median(times[name]["ref"]), statistics.median(times[name]["mmzoo"])
        batch = zoo.model(name).recipe.batch_size
        target = f"{TARGETS[name]:.0f}x" if name in TARGETS else ""
        each = ", ".join(f"{r / o:.2f}" for r, o in zip(times[name]["ref"], times[name]["mmzoo"]))
        lines.append(f"| {name} | {batch} | {ref:.2f} | {ours:.2f} | {ref / ours:.2f}x | {each} | {target} |")
    publish("train_speed", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
