"""Start-up: the catalog commands against `mmzoo --help` and a bare `import torch`.

    python bench/startup.py [--repeats 10]

`mmzoo list`, `mmzoo list MODEL` and `mmzoo plugins` are the first commands a user
types; none of them imports torch (tests/test_catalog.py checks sys.modules), so
they should cost about what `--help` does. Commands run round-robin, each figure a
median. Prints a markdown table and writes bench/results/startup.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import publish  # noqa: E402
from sampling import MMZOO, interleaved_medians  # noqa: E402

COMMANDS = {
    "`mmzoo --help`": [MMZOO, "--help"],
    "`mmzoo list`": [MMZOO, "list"],
    "`mmzoo list mlp-bn`": [MMZOO, "list", "mlp-bn"],
    "`mmzoo plugins`": [MMZOO, "plugins"],
    "`python -c 'import torch'`": [sys.executable, "-c", "import torch"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    for cmd in COMMANDS.values():  # warm the file cache: the table is about warm starts
        interleaved_medians([cmd], 1)
    medians = interleaved_medians(list(COMMANDS.values()), args.repeats)
    help_s = medians[0]
    lines = [
        f"Start-up, wall seconds, median of {args.repeats}, interleaved (`python bench/startup.py`):",
        "",
        "| command | wall seconds | ratio to `--help` |",
        "|---|---:|---:|",
        *(f"| {name} | {s:.2f} | {s / help_s:.2f}x |" for name, s in zip(COMMANDS, medians)),
    ]
    publish("startup", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
