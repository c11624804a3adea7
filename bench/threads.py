"""The thread policy against one thread and all threads, in three settings.

    python bench/threads.py [DATA] [--model mlp-bn] [--steps 1500] [--repeats 3]

Times the real `mmzoo train MODEL --steps N` in a subprocess with the default
policy (MMZOO_THREADS unset, no --threads), with `--threads 1` and with
`--threads <all cores>`, while the machine is (1) otherwise idle, (2) running one
busy pure-Python process, (3) running a second `mmzoo train` (with its default).
Settings and variants are interleaved; each figure is a median of --repeats. The
policy passes a setting when it is within 10% of the better of 1 and all threads.
Prints a markdown table and writes bench/results/threads.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import publish

MMZOO = str(Path(sys.executable).parent / "mmzoo")
SETTINGS = ("idle", "busy Python process", "second mmzoo training")


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("MMZOO_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return out


def competitor(setting: str, data: str, model: str, work: Path) -> subprocess.Popen | None:
    """The other process for a setting, already running; None when idle."""
    if setting == "idle":
        return None
    if setting == "busy Python process":
        cmd = [sys.executable, "-c", "while True: pass"]
    else:
        out = work / f"other-{time.monotonic_ns()}"  # a fresh folder each time: never "already holds a run"
        cmd = [MMZOO, "train", model, "--data", data, "--steps", "10000000", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    time.sleep(3)  # let it get going (the training past its start-up)
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def timed_train(data: str, model: str, steps: int, threads: list[str], out: Path) -> float:
    cmd = [MMZOO, "train", model, "--data", data, "--steps", str(steps), "--out", str(out), "--json", *threads]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env(), capture_output=True, text=True, cwd=out.parent)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="names")
    parser.add_argument("--model", default="mlp-bn")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if Path(args.data).exists():  # the runs start in a temp folder: a relative path must not break them
        args.data = str(Path(args.data).resolve())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    variants = {"policy": [], "1 thread": ["--threads", "1"], f"{cores} threads": ["--threads", str(cores)]}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="mmzoo-threads-") as tmp:
        work = Path(tmp)
        for repeat in range(args.repeats):
            for setting in SETTINGS:
                other = competitor(setting, args.data, args.model, work)
                try:
                    for name, flags in variants.items():
                        out = work / f"run-{repeat}-{len(times)}-{time.monotonic_ns()}"
                        seconds = timed_train(args.data, args.model, args.steps, flags, out)
                        times.setdefault((setting, name), []).append(seconds)
                        print(f"repeat {repeat + 1}, {setting}, {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
                finally:
                    stop(other)
    names = list(variants)
    lines = [
        f"`mmzoo train {args.model} --steps {args.steps}` wall seconds, median of {args.repeats} interleaved "
        f"repeats, {cores} cores.",
        "",
        "| setting | " + " | ".join(names) + " | policy / best | within 10% |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for setting in SETTINGS:
        medians = [statistics.median(times[(setting, name)]) for name in names]
        ratio = medians[0] / min(medians[1:])
        cells = " | ".join(f"{m:.1f}" for m in medians)
        lines.append(f"| {setting} | {cells} | {ratio:.2f} | {'yes' if ratio <= 1.10 else 'no'} |")
    publish("threads", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
