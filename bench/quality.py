"""Train every built-in model with its defaults and tabulate what it reaches.

    .venv/bin/python bench/quality.py ../shared/data/names.txt [--models wavenet gru]

For each model: `mmzoo train` with the default recipe, `mmzoo export`, then sampling
speed under onnxruntime. Writes bench/results/quality.md and prints the same table.
Training time is wall-clock on this machine, so it moves with the machine's load.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))

from make_zoo import builtin_models, train_and_export  # noqa: E402
from report import publish  # noqa: E402


def names_per_second(path: Path, n: int = 5000) -> float:
    """Whole names per second from the exported file, 1,000 at a time, after a warm-up."""
    from mmzoo.runtime import OnnxSampler

    sampler = OnnxSampler(path)
    sampler.sample(100, seed=1)
    started = time.perf_counter()
    sampler.sample(n, seed=0, batch_size=1000)
    return n / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the corpus, e.g. ../shared/data/names.txt")
    parser.add_argument("--models", nargs="*", help="only these (default: every built-in model)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    data = str(Path(args.data).resolve())
    models = args.models or builtin_models()
    lines = [
        f"Defaults of every model on {args.data}, seed {args.seed}.",
        "",
        "| model | params | val loss | train s | names/s (onnxruntime) |",
        "|---|---:|---:|---:|---:|",
    ]
    work = Path(tempfile.mkdtemp(prefix="mmzoo-quality-"))
    try:
        for name in models:
            out = work / f"{name}.onnx"
            trained, report = train_and_export(name, data, args.seed, work, out)
            speed = names_per_second(out)
            line = (
                f"| {name} | {trained['params']:,} | {report['val_loss']:.4f} | {trained['seconds']:.0f} "
                f"| {speed:,.0f} |"
            )
            print(line, flush=True)
            lines.append(line)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    publish("quality", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
