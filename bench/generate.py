"""Generator files against the numpy step loop, for every pretrained model, in one run:
names/s at batch 1 and 1000 through mmzoo.runtime (the generator file, one onnxruntime
call per batch; the step/window file, one call per token), and the one-call floor: a
single session.run of the step/window graph at batch 1, mid-item (position 4).

    python bench/generate.py [--repeats 3] [--models gru mlp-bn ...]
    python bench/generate.py --startup [--repeats 15] [--models ...]

--startup times the whole command instead: `mmzoo sample names-X.gen.onnx -n 20` against a
bare `python -c "import onnxruntime, numpy"` (the floor of any onnxruntime app), run in
turn, the ratio taken pair by pair (median, wall and CPU seconds), and the seconds onnxruntime
takes to create a session for the generator file and for its step/window file.

Timings are medians of interleaved repeats (loop, generator, loop, ...; the floor and the
generator's call a fifth of each at a time), so a change in the machine's load hits both
alike; compare the ratios, not the absolute figures.
bench/sampling.py calls it too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = ROOT / "mmzoo" / "pretrained"
RUNS = {1: 300, 1000: 3000}  # batch size -> names per timed run


SLICES = 5  # each repeat times the floor and the generator in turn, a fifth of each at a time


def one_call(path: Path, calls: int = 1000) -> Callable[[], float]:
    """Timer: seconds per session.run of the step/window graph at batch 1, fed as the loop
    feeds it at position 4 (`calls` calls a time)."""
    from mmzoo.runtime import OnnxModel, OrtStepper

    model = OnnxModel(path, ["cpu"])
    stepper = OrtStepper(model)
    stepper.start(1)
    for token in (0, 1, 14, 14):  # ".ann": the state after four tokens
        stepper.feed(np.array([token]))
    session, meta = stepper.session, model.metadata
    if meta.mode == "step":
        feeds: dict[str, Any] = {"idx": np.array([1]), "pos": np.array(stepper.pos, dtype=np.int64), **stepper.state}
    else:
        feeds = {"idx": stepper.history[:, -meta.context_length :]}
    return lambda: seconds(lambda: [session.run(None, feeds) for _ in range(calls)]) / calls


def one_item(gen: Any, n: int) -> tuple[list[Callable[[], float]], int]:
    """Timers, one per slice of n items: seconds of the generator's session.run alone at
    batch 1, one call per item, its feeds made beforehand (as the floor's are); and the
    tokens the n items take."""
    from mmzoo.runtime.generator import feeds, scalars
    from mmzoo.runtime.sampling import uniform_table

    table = uniform_table(1, np.arange(n), gen.metadata.max_length)
    session = gen.session_for(1)
    temperature, top_k = scalars(1.0, None)
    each = [feeds(table[i : i + 1], temperature, top_k) for i in range(n)]
    rows = [session.run(["tokens"], f)[0][0] for f in each]
    tokens = sum(int(min((row != 0).sum() + 1, row.size)) for row in rows)

    def timer(part: list[dict[str, np.ndarray]]) -> Callable[[], float]:
        return lambda: seconds(lambda: [session.run(["tokens"], f) for f in part])

    return [timer(each[k::SLICES]) for k in range(SLICES)], tokens


def floor_and_call(name: str, gen: Any, repeats: int) -> tuple[float, float]:
    """Medians over repeats of the floor (seconds a call) and the generator's seconds per
    token at batch 1, timed in turn a slice at a time, so that a change in load hits both."""
    floor = one_call(EXPORTED / f"names-{name}.onnx", calls=1000 // SLICES)
    parts, tokens = one_item(gen, RUNS[1])
    floors, calls = [], []
    for _ in range(repeats):
        timed = [(floor(), part()) for part in parts]
        floors.append(statistics.mean(f for f, _ in timed))
        calls.append(sum(c for _, c in timed) / tokens)
    return statistics.median(floors), statistics.median(calls)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def tokens_per_name(samples: list[str], max_length: int) -> float:
    """Tokens drawn per name: its characters and the ending boundary token, up to max_length."""
    return sum(min(len(s) + 1, max_length) for s in samples) / len(samples)


def measure(name: str, repeats: int) -> dict[str, float]:
    """names/s for the loop and the generator at each batch size, the floor, tokens per name."""
    from mmzoo.runtime import OnnxModel, sample_items
    from mmzoo.runtime.sampling import SampleOptions

    loop = OnnxModel(EXPORTED / f"names-{name}.onnx", ["cpu"])
    gen = OnnxModel(EXPORTED / f"names-{name}.gen.onnx", ["cpu"])
    floor_s, call_s = floor_and_call(name, gen, repeats)
    row: dict[str, float] = {"floor_s": floor_s, "call_s": call_s}
    for batch, n in RUNS.items():
        options = SampleOptions(n, seed=1, batch_size=batch)
        times: dict[str, list[float]] = {"loop": [], "gen": []}
        for _ in range(repeats):
            for key, model in (("loop", loop), ("gen", gen)):
                start = time.perf_counter()
                samples = sample_items(model, options)
                times[key].append(time.perf_counter() - start)
        for key, t in times.items():
            row[f"{key}_{batch}"] = n / statistics.median(t)
        row["tokens"] = tokens_per_name(samples, loop.metadata.max_length)
    return row


def table(rows: dict[str, dict[str, float]], repeats: int) -> list[str]:
    lines = [
        f"Generator file vs step/window loop (`python bench/generate.py`, medians of {repeats} interleaved runs; "
        "floor = one session.run of the step/window graph at batch 1):",
        "",
        "| model | floor us | generator us/token: session.run | vs floor | with OnnxSampler | vs floor "
        "| batch 1 names/s: loop | generator | batch 1000 names/s: loop | generator |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        sampler = 1 / (r["gen_1"] * r["tokens"])
        lines.append(
            f"| {name} | {r['floor_s'] * 1e6:.1f} | {r['call_s'] * 1e6:.1f} | {r['call_s'] / r['floor_s']:.2f}x "
            f"| {sampler * 1e6:.1f} | {sampler / r['floor_s']:.2f}x | {r['loop_1']:,.0f} "
            f"| {r['gen_1']:,.0f} ({r['gen_1'] / r['loop_1']:.2f}x) "
            f"| {r['loop_1000']:,.0f} | {r['gen_1000']:,.0f} ({r['gen_1000'] / r['loop_1000']:.2f}x) |"
        )
    tokens = statistics.mean(r["tokens"] for r in rows.values())
    lines += ["", f"({tokens:.1f} tokens a name on average, the ending boundary token included.)", ""]
    return lines


def generate_bench(models: list[str], repeats: int) -> list[str]:
    return table({name: measure(name, repeats) for name in models}, repeats)


def run_child(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one child process, start-up included."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode})")
    return wall, usage.ru_utime + usage.ru_stime


def session_seconds(path: Path, repeats: int) -> float:
    """Median seconds to create mmzoo's onnxruntime session for a file."""
    import onnxruntime as ort

    def once() -> float:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.disable_prepacking", "1")  # as mmzoo.runtime
        return seconds(lambda: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]))

    return statistics.median(once() for _ in range(repeats))


def startup_bench(models: list[str], repeats: int) -> list[str]:
    python = sys.executable
    mmzoo = str(Path(python).parent / "mmzoo")
    bare = [python, "-c", "import onnxruntime, numpy"]
    lines = [
        f"Start-up (`python bench/generate.py --startup`, medians of {repeats} pairs run in turn; "
        "ratio = `mmzoo sample names-X.gen.onnx -n 20` / `python -c 'import onnxruntime, numpy'`):",
        "",
        "| model | bare import s | sample -n 20 s | ratio (wall) | ratio (CPU) "
        "| session: step file ms | generator ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in models:
        command = [mmzoo, "sample", str(EXPORTED / f"names-{name}.gen.onnx"), "-n", "20"]
        run_child(command), run_child(bare)  # warm the page cache
        pairs = [(run_child(command), run_child(bare)) for _ in range(repeats)]
        wall = statistics.median(a[0] / b[0] for a, b in pairs)
        cpu = statistics.median(a[1] / b[1] for a, b in pairs)
        step_ms = session_seconds(EXPORTED / f"names-{name}.onnx", repeats) * 1e3
        gen_ms = session_seconds(EXPORTED / f"names-{name}.gen.onnx", repeats) * 1e3
        bare_s, sample_s = statistics.median(b[0] for _, b in pairs), statistics.median(a[0] for a, _ in pairs)
        lines.append(
            f"| {name} | {bare_s:.3f} | {sample_s:.3f} | {wall:.2f}x | {cpu:.2f}x | {step_ms:.1f} | {gen_ms:.1f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup", action="store_true", help="time the whole `mmzoo sample -n 20` command")
    parser.add_argument("--models", nargs="*", help="default: every mmzoo/pretrained/names-*.gen.onnx")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    models = args.models or sorted(p.name[len("names-") : -len(".gen.onnx")] for p in EXPORTED.glob("*.gen.onnx"))
    if args.startup:
        print("\n".join(startup_bench(models, max(args.repeats, 5))))
        return 0
    print("\n".join(generate_bench(models, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
