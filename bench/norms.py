"""BatchNorm vs LayerNorm vs GroupNorm vs none on the deep mlp-bn: the cost of a
training step, what export leaves in the graph, and the cost of a forward pass
under onnxruntime (docs/diagnose.md). Not a test: timings here are noisy, so
the norms are interleaved round by round and every figure is a median, compared
as ratios to BatchNorm within one run. Single-threaded.

    OMP_NUM_THREADS=1 python bench/norms.py [--rounds 5] [--steps 100] [--work DIR]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

NORMS = ("batch", "layer", "group", "none")
MMZOO = str(Path(sys.executable).parent / "mmzoo")


def interleaved(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median seconds of each run, the runs taking turns within every round."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
    return {name: statistics.median(t) for name, t in times.items()}


def train_step_seconds(norm: str, steps: int) -> float:
    from mmzoo.corpus import load_corpus
    from mmzoo.engine.training.trainer import Trainer
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("mlp-bn")
    recipe = dataclasses.replace(spec.recipe, steps=steps)
    config = spec.make_config("deep", {"norm": norm})
    trainer = Trainer(spec, load_corpus(None), config, recipe, 42, None, log=lambda message: None)
    start = time.perf_counter()
    trainer.loop()
    return (time.perf_counter() - start) / steps


def export(norm: str, work: Path) -> dict[str, object]:
    """Train 300 steps and export with the real command; count the graph's ops."""
    import onnx

    run, out = work / f"run-{norm}", work / f"{norm}.onnx"
    train = [MMZOO, "train", "mlp-bn", "--preset", "deep", "--set", f"norm={norm}", "--steps", "300"]
    subprocess.run([*train, "--threads", "1", "--out", str(run)], check=True, capture_output=True, cwd=work)
    doc = json.loads(subprocess.run([MMZOO, "export", str(run), "--out", str(out), "--json"], check=True,
                                    capture_output=True, text=True, cwd=work).stdout)  # fmt: skip
    ops = collections.Counter(node.op_type for node in onnx.load(str(out)).graph.node)
    return {"path": out, "nodes": sum(ops.values()), "ops": dict(sorted(ops.items())), "bn_folded": doc["bn_folded"]}


def onnx_runner(path: Path, batch: int) -> Callable[[], float]:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).integers(0, 27, size=(batch, 3)).astype(np.int64)

    def run(repeats: int = 5) -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            session.run(["logits"], {"idx": x})
        return (time.perf_counter() - start) / repeats

    run(3)  # warm up: the first calls allocate
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    step = interleaved({n: lambda n=n: train_step_seconds(n, args.steps) for n in NORMS}, args.rounds)
    work = args.work or Path(tempfile.mkdtemp(prefix="mmzoo-norms-"))
    exported = {n: export(n, work) for n in NORMS}
    ort_time = interleaved({n: onnx_runner(exported[n]["path"], 1000) for n in NORMS}, 30)  # type: ignore[arg-type]
    print("| norm | training step | vs batch | exported nodes | ops | onnxruntime, 1000 windows | vs batch |")
    print("|---|---|---|---|---|---|---|")
    for n in NORMS:
        e = exported[n]
        print(f"| {n} | {1000 * step[n]:.2f} ms | {step[n] / step['batch']:.2f} | {e['nodes']} | {e['ops']} | "
              f"{1e6 * ort_time[n]:.0f} us | {ort_time[n] / ort_time['batch']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
