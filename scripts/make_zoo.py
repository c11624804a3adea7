"""Regenerate the pretrained zoo: `make zoo`, or `python scripts/make_zoo.py [MODEL ...]`.

Trains each built-in model with its default recipe and a fixed seed on the built-in
`names` corpus through the real `mmzoo` CLI, exports it to mmzoo/pretrained/names-<model>.onnx
(package data: the zoo ships in the wheel) and rewrites mmzoo/pretrained/README.md. Naming
models retrains only those and keeps the other rows of the table, so that one retuned recipe
does not cost the whole zoo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXPORTED = REPO / "mmzoo" / "pretrained"
README = EXPORTED / "README.md"
COLUMNS = ["model", "params", "val loss", "train s", "size (bytes)", "sha256"]
HEADER = """# Pretrained zoo

One ONNX file per built-in model, trained by `make zoo` (scripts/make_zoo.py): each
model's default recipe, seed {seed}, on the built-in `names` corpus ({items} names, the
lectures' 80/10/10 split), exported with `mmzoo export`. They are package data, so they ship in the wheel; sample one
without training, from any directory (a model name with no local run in runs/ means its file here):

    mmzoo sample transformer

Beside each, `names-<model>.gen.onnx` is its generator file (docs/generate.md): the same
network in an ONNX Loop that samples whole names in one onnxruntime call, made from
the `.onnx` file by scripts/make_generators.py (no retraining), same names for the
same seed:

    mmzoo sample mmzoo/pretrained/names-transformer.gen.onnx

`val loss` is the exported model's mean NLL per character on the val split (after
BatchNorm calibration where there is one); `train s` is the wall-clock training time
on the machine that ran `make zoo`, so it depends on that machine and its load.

"""


@dataclass
class Row:
    model: str
    params: int
    val_loss: float
    train_seconds: float
    size: int
    sha256: str

    def cells(self) -> list[str]:
        return [
            self.model,
            str(self.params),
            f"{self.val_loss:.4f}",
            f"{self.train_seconds:.1f}",
            str(self.size),
            self.sha256,
        ]


def mmzoo(*args: str, cwd: Path) -> dict:
    """Run the installed CLI (the one next to this interpreter) and parse its --json."""
    exe = Path(sys.executable).parent / "mmzoo"
    # One intra-op thread unless asked otherwise: these models are too small to gain from
    # more, on a busy machine extra threads make training many times slower, and a fixed
    # count keeps the floating-point sums, so the files, reproducible.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [str(exe) if exe.exists() else "mmzoo", *args, "--json"], cwd=cwd, capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"mmzoo {' '.join(args)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def train_and_export(name: str, data: str | None, seed: int, work: Path, out: Path) -> tuple[dict, dict]:
    """Train NAME with its defaults into work/NAME, export to `out`; the two JSON reports."""
    data_args = ["--data", data] if data else []
    trained = mmzoo("train", name, *data_args, "--seed", str(seed), "--out", str(work / name), cwd=work)
    report = mmzoo("export", str(work / name), "--out", str(out), cwd=work)
    return trained, report


def builtin_models() -> list[str]:
    from mmzoo.plugins import BUILTIN_DIST, get_zoo

    return [spec.name for spec in get_zoo().filter_models(None) if spec.plugin == BUILTIN_DIST]


def read_table(path: Path = README) -> dict[str, list[str]]:
    """model -> the cells of its row, from an existing README's table."""
    rows: dict[str, list[str]] = {}
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if (
            line.startswith("|")
            and len(cells) == len(COLUMNS)
            and cells[0] not in ("model", "")
            and not set(cells[0]) <= set("-: ")
        ):
            rows[cells[0]] = cells
    return rows


def write_readme(rows: dict[str, list[str]], order: list[str], seed: int, items: int) -> None:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for name in order + sorted(set(rows) - set(order)):
        if name in rows:
            lines.append("| " + " | ".join(rows[name]) + " |")
    README.write_text(HEADER.format(seed=seed, items=items) + "\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="only these (default: every built-in model)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    from mmzoo.corpus import load_corpus

    order = builtin_models()
    wanted = args.models or order
    unknown = sorted(set(wanted) - set(order))
    if unknown:
        raise SystemExit(f"not built-in models: {', '.join(unknown)}; built-in: {', '.join(order)}")
    rows = read_table() if args.models else {}
    EXPORTED.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mmzoo-zoo-"))
    try:
        for name in wanted:
            out = EXPORTED / f"names-{name}.onnx"
            print(f"{name}: training ...", file=sys.stderr, flush=True)
            trained, report = train_and_export(name, None, args.seed, work, out)
            data = out.read_bytes()
            row = Row(
                name,
                trained["params"],
                report["val_loss"],
                trained["seconds"],
                len(data),
                hashlib.sha256(data).hexdigest(),
            )
            rows[name] = row.cells()
            print(
                f"{name}: val {row.val_loss:.4f} in {row.train_seconds:.0f}s -> {out.relative_to(REPO)}",
                file=sys.stderr,
                flush=True,
            )
            write_readme(rows, order, args.seed, len(load_corpus("names").items))  # after each: progress survives
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # and each file's generator (mmzoo/pretrained/names-<model>.gen.onnx), made from the file itself
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_generators.py"), *wanted], check=True)
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    raise SystemExit(main())
