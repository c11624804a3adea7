"""Sampling speed: onnxruntime vs makemore-style eager torch, and the startup cost
of the torch-free command. Not a test: timings here are noisy, so every figure is
a median of repeats, compared as ratios within one run.

    python bench/sampling.py [--run RUN_DIR] [--repeats 5] [--generate-only]

Without --run it uses the newest runs/mlp-bn, training one (defaults, built-in
names) if there is none. Then bench/generate.py's table: every pretrained model's
generator file against its step/window loop and the one-call floor (--generate-only:
just that table, no run needed). Writes bench/results/sampling.md and prints it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MMZOO = str(Path(sys.executable).parent / "mmzoo")


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def eager_generate(model, n: int, steps: int, seed: int) -> None:
    """makemore's generate(): re-run the whole prefix each step, torch.multinomial, no early stop."""
    import torch

    g = torch.Generator().manual_seed(seed)
    idx = torch.zeros(n, 1, dtype=torch.long)
    with torch.no_grad():
        for _ in range(steps):
            logits = model(idx)[:, -1, :]  # [n, V]
            probs = torch.softmax(logits, dim=-1)
            nxt = torch.multinomial(probs, num_samples=1, generator=g)
            idx = torch.cat([idx, nxt], dim=1)


def run_cmd(args: list[str]) -> None:
    subprocess.run(args, check=True, capture_output=True)


def interleaved_medians(commands: list[list[str]], repeats: int) -> list[float]:
    """Median wall time of each command, run round-robin so load drift hits all alike."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(repeats):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            run_cmd(cmd)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a trained mlp-bn run folder")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--generate-only", action="store_true", help="only the generator-file table")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    RESULTS.mkdir(parents=True, exist_ok=True)
    from generate import EXPORTED, generate_bench

    lines = [] if args.generate_only else eager_tables(args)
    models = sorted(p.name[len("names-") : -len(".gen.onnx")] for p in EXPORTED.glob("names-*.gen.onnx"))
    text = "\n".join(lines + generate_bench(models, max(3, args.repeats // 2)))
    (RESULTS / "sampling.md").write_text(text)
    print(text)
    return 0


def eager_tables(args: argparse.Namespace) -> list[str]:
    """mlp-bn: the onnxruntime loop against eager torch, and the commands' start-up."""
    from mmzoo.engine.opened_run import open_run
    from mmzoo.runs.folder import newest_run
    from mmzoo.runtime import OnnxSampler

    run_dir = args.run or newest_run("mlp-bn")
    if run_dir is None:
        print("no mlp-bn run: training one with its defaults", file=sys.stderr)
        run_cmd([MMZOO, "train", "mlp-bn"])
        run_dir = newest_run("mlp-bn")
    onnx_path = RESULTS / "mlp-bn.onnx"
    run_cmd([MMZOO, "export", str(run_dir), "--out", str(onnx_path)])
    run = open_run(run_dir)
    steps = run.meta.max_length
    sampler = OnnxSampler(onnx_path)
    rows = []
    for batch, n in ((1, 100), (1000, 5000)):
        ort_s = median_seconds(lambda n=n, batch=batch: sampler.sample(n, seed=1, batch_size=batch), args.repeats)
        eager_s = median_seconds(
            lambda n=n, batch=batch: [eager_generate(run.model, batch, steps, s) for s in range(n // batch)],
            args.repeats,
        )
        rows.append((batch, n / ort_s, n / eager_s))
    cmd_onnx, cmd_torch, bare = interleaved_medians(
        [
            [MMZOO, "sample", str(onnx_path), "-n", "20"],
            [MMZOO, "sample", str(run_dir), "-n", "20"],
            [sys.executable, "-c", "import onnxruntime, numpy"],
        ],
        3 * args.repeats,
    )

    lines = [
        f"# Sampling benchmark (mlp-bn, `python bench/sampling.py`: loops median of {args.repeats}, "
        f"commands median of {3 * args.repeats}, interleaved)",
        "",
        "| batch | onnxruntime names/s | eager torch names/s | speed-up |",
        "|---|---|---|---|",
        *(f"| {b} | {o:,.0f} | {e:,.0f} | {o / e:.1f}x |" for b, o, e in rows),
        "",
        "| command | wall seconds | ratio |",
        "|---|---|---|",
        f"| `mmzoo sample mlp-bn.onnx -n 20` (onnxruntime) | {cmd_onnx:.2f} | 1.0x |",
        f"| `mmzoo sample RUN -n 20` (torch) | {cmd_torch:.2f} | {cmd_torch / cmd_onnx:.1f}x slower |",
        f'| `python -c "import onnxruntime, numpy"` | {bare:.2f} | onnx command is {cmd_onnx / bare:.2f}x this |',
        "",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
