"""Write a reproducible large corpus from the built-in names: each line joins the
start of one random name to the end of another (nothing downloaded).

    python scripts/make_big_corpus.py --lines 10000000 --out /tmp/big10m.txt

The same --lines and --seed write the same bytes (about 8 bytes a line).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mmzoo.datasets import builtin_corpus_path  # noqa: E402

BATCH = 1_000_000


def recombined(names: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """n lines, each names[a][:i] + names[b][j:] with i >= 1 and j < len(names[b])."""
    lengths = np.array([len(name) for name in names])
    a = rng.integers(0, len(names), n)
    b = rng.integers(0, len(names), n)
    i = 1 + (rng.random(n) * lengths[a]).astype(np.int64)  # 1..len(a)
    j = (rng.random(n) * lengths[b]).astype(np.int64)  # 0..len(b)-1
    return [names[x][:p] + names[y][q:] for x, y, p, q in zip(a.tolist(), b.tolist(), i.tolist(), j.tolist())]


def write_corpus(out: Path, lines: int, seed: int) -> None:
    names = builtin_corpus_path().read_text(encoding="utf-8").split()
    rng = np.random.default_rng(seed)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for start in range(0, lines, BATCH):
            f.write("\n".join(recombined(names, min(BATCH, lines - start), rng)) + "\n")
    os.replace(tmp, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.lines < 1:
        parser.error("--lines must be at least 1")
    write_corpus(args.out, args.lines, args.seed)
    print(f"{args.out}: {args.lines:,} lines, {args.out.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
