"""GPU figures: train mlp-bn and the transformer on CUDA, export, sample with
onnxruntime's CUDA provider. One command, about 2-3 minutes on one GPU:

    pip install -c constraints.txt -e .      # plus onnxruntime-gpu for the CUDA provider
    python bench/cuda.py [--steps 2000] [--samples 20000]

For each model: `mmzoo train MODEL --device cuda --steps N` (bf16 autocast) and the
same for N/10 steps on the CPU, as steps/s from the runs' own loop seconds;
`mmzoo export` of the CUDA run; then names/s sampled from the .onnx file with the
CUDA provider and with the CPU one, and val losses so the runs can be compared.
Without a CUDA GPU it says so and exits 0 having measured nothing; without
onnxruntime's CUDA provider it samples on the CPU only and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MMZOO = str(Path(sys.executable).parent / "mmzoo")
MODELS = ("mlp-bn", "transformer")


def mmzoo_json(*args: str) -> dict:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([MMZOO, *args, "--json"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"mmzoo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def train_rate(model: str, device: str, steps: int, out: Path) -> tuple[float, float]:
    """(steps/s of the training loop, best val loss)."""
    doc = mmzoo_json("train", model, "--device", device, "--steps", str(steps), "--out", str(out))
    return steps / max(doc["seconds"], 1e-9), doc["best_val_loss"]


def names_per_second(path: Path, provider: str, n: int) -> float:
    from mmzoo.runtime import OnnxSampler

    sampler = OnnxSampler(path, [provider], batch_hint=min(n, 1000))
    sampler.sample(100, seed=1)  # warm-up: session creation, CUDA kernels
    started = time.perf_counter()
    got = sampler.sample(n, seed=0, batch_size=1000)
    assert len(got) == n
    return n / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="CUDA training steps per model")
    parser.add_argument("--samples", type=int, default=20000, help="names sampled per provider")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        build = "built without CUDA" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, but no GPU visible"
        print(f"bench/cuda.py: no CUDA device (torch {torch.__version__}, {build}); nothing measured.")
        return 0
    from mmzoo.runtime import available_providers

    ort_cuda = "CUDAExecutionProvider" in available_providers()
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; bf16 {torch.cuda.is_bf16_supported()}")
    if not ort_cuda:
        print("onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu): sampling on the CPU only")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for model in MODELS:
            gpu_rate, gpu_val = train_rate(model, "cuda", args.steps, work / f"{model}-cuda")
            cpu_rate, _ = train_rate(model, "cpu", max(1, args.steps // 10), work / f"{model}-cpu")
            onnx = work / f"{model}.onnx"
            mmzoo_json("export", str(work / f"{model}-cuda"), "--out", str(onnx))
            cpu_names = names_per_second(onnx, "cpu", args.samples)
            gpu_names = names_per_second(onnx, "cuda", args.samples) if ort_cuda else float("nan")
            rows.append((model, gpu_rate, cpu_rate, gpu_val, gpu_names, cpu_names))
    print(f"\n{args.steps} CUDA steps per model (CPU: {max(1, args.steps // 10)} steps), {args.samples} names sampled")
    print("| model | steps/s cuda | steps/s cpu | val loss (cuda run) | names/s ort cuda | names/s ort cpu |")
    print("|---|---|---|---|---|---|")
    for model, gpu_rate, cpu_rate, val, gpu_names, cpu_names in rows:
        print(f"| {model} | {gpu_rate:.0f} | {cpu_rate:.0f} | {val:.4f} | {gpu_names:.0f} | {cpu_names:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
