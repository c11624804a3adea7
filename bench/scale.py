"""Large corpora and data-parallel training, measured with the real `mmzoo` command.

    python bench/scale.py                      # 1M and 10M lines (about 8 and 80 MB)
    python bench/scale.py --lines 1000000 --steps 200

For each size: `mmzoo train mlp --steps 1` with an empty cache (the token store is
built) and again (it is memory-mapped): wall time and peak RSS of the process;
then training steps/s with 1 process and with `--nproc 2` (gloo), each as
(long - short steps) / (long - short loop seconds), so that start-up, loading
and the final evaluation cancel out. A 2,000-line baseline shows the fixed cost
of starting mmzoo (Python, torch) on this machine. Everything runs with
OMP_NUM_THREADS=1 and --threads 1.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from make_big_corpus import write_corpus  # noqa: E402


def mmzoo() -> str:
    local = Path(sys.executable).parent / "mmzoo"
    return str(local) if local.exists() else "mmzoo"


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MB, --json document). wait4's rusage of the child covers
    its waited-for descendants too (torchrun's workers): the largest single process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{errors[-2000:]}")
    doc = json.loads(text[text.index("{") :]) if "{" in text else {}
    return wall, usage.ru_maxrss / 1024, doc


def train_args(data: Path, steps: int, out: Path, nproc: int = 1) -> list[str]:
    args = [mmzoo(), "train", "mlp", "--data", str(data), "--steps", str(steps), "--threads", "1"]
    args += ["--out", str(out), "--json"]
    return args + (["--nproc", str(nproc)] if nproc > 1 else [])


def steps_per_second(data: Path, work: Path, env: dict[str, str], steps: int, nproc: int) -> float:
    short = max(1, steps // 10)
    seconds = {}
    for n in (short, steps):
        _, _, doc = run_measured(train_args(data, n, work / f"rate-{nproc}-{n}", nproc), env)
        seconds[n] = doc["seconds"]
    return (steps - short) / max(1e-9, seconds[steps] - seconds[short])


def bench_size(lines: int, folder: Path, steps: int) -> dict:
    data = folder / f"names-{lines}.txt"
    if not data.exists():
        started = time.perf_counter()
        write_corpus(data, lines, seed=0)
        print(f"wrote {data} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix=f"scale-{lines}-", dir=folder))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(work / "cache"), "COLUMNS": "200"}
    row: dict = {"lines": lines, "MB": round(data.stat().st_size / 1e6, 1)}
    for label in ("first", "cached"):
        wall, rss, _ = run_measured(train_args(data, 1, work / f"one-{label}"), env)
        row[f"{label}_s"], row[f"{label}_rss_MB"] = round(wall, 1), round(rss)
        print(f"{lines:,} lines, {label}: {wall:.1f}s, peak RSS {rss:.0f} MB", file=sys.stderr)
    for nproc in (1, 2):
        row[f"steps_per_s_{nproc}p"] = round(steps_per_second(data, work, env, steps, nproc), 1)
        print(f"{lines:,} lines, {nproc} process(es): {row[f'steps_per_s_{nproc}p']} steps/s", file=sys.stderr)
    return row


def baseline(folder: Path) -> dict:
    data = folder / "baseline-2000.txt"
    write_corpus(data, 2000, seed=0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    wall, rss, _ = run_measured(train_args(data, 1, Path(tempfile.mkdtemp(dir=folder)) / "run"), env)
    return {"lines": 2000, "wall_s": round(wall, 1), "rss_MB": round(rss)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--steps", type=int, default=300, help="steps of the steps/s runs")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mmzoo-scale")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    doc = {"baseline": baseline(args.dir), "corpora": [bench_size(n, args.dir, args.steps) for n in args.lines]}
    b = doc["baseline"]
    print(f"baseline (2,000 lines, steps 1): {b['wall_s']}s, peak RSS {b['rss_MB']} MB")
    print("| lines | MB | first run s | peak RSS MB | cached run s | peak RSS MB | steps/s 1 proc | steps/s 2 procs |")
    print("|---|---|---|---|---|---|---|---|")
    for r in doc["corpora"]:
        print(
            f"| {r['lines']:,} | {r['MB']} | {r['first_s']} | {r['first_rss_MB']} | {r['cached_s']} | "
            f"{r['cached_rss_MB']} | {r['steps_per_s_1p']} | {r['steps_per_s_2p']} |"
        )
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
