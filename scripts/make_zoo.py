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
FILE_COLUMNS = ["file", "size (bytes)", "sha256"]
# the order mmzoo export writes its keys in (mmzoo/engine/export/writer.py)
KEY_ORDER = [
    "mmzoo.format",
    "mmzoo.model",
    "mmzoo.vocab",
    "mmzoo.input",
    "mmzoo.context_length",
    "mmzoo.state",
    "mmzoo.max_length",
    "mmzoo.val_loss",
    "mmzoo.val_loss_uncalibrated",
    "mmzoo.val_loss_calibrated",
    "mmzoo.data_sha256",
    "mmzoo.data_source",
    "mmzoo.split_seed",
    "mmzoo.config",
    "mmzoo.bn_folded",
    "mmzoo.bn_layers",
    "mmzoo.norm",
    "mmzoo.calibrated",
    "mmzoo.opset",
    "mmzoo.version",
]
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

`val loss` is the exported model's mean NLL per character on the val split (with the
BatchNorm statistics export kept, calibrated or running, whichever scored better);
`train s` is the wall-clock training time on the machine that ran `make zoo`, so it
depends on that machine and its load.

"""
FILES_HEADER = """
Every file, generator files included (tests/test_pretrained_files.py keeps this list
current):

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


def file_table() -> list[str]:
    """Every .onnx file in the zoo, with its size and sha256, read from disk."""
    lines = ["| " + " | ".join(FILE_COLUMNS) + " |", "|" + "|".join("---" for _ in FILE_COLUMNS) + "|"]
    for path in sorted(EXPORTED.glob("*.onnx")):
        data = path.read_bytes()
        lines.append(f"| {path.name} | {len(data)} | {hashlib.sha256(data).hexdigest()} |")
    return lines


def refresh_file_table() -> None:
    """Rewrite only the README's table of every file (make_generators.py calls it)."""
    text = README.read_text(encoding="utf-8")
    head = text.split(FILES_HEADER)[0].rstrip("\n") + "\n"
    tmp = README.with_name(README.name + ".tmp")
    tmp.write_text(head + FILES_HEADER + "\n".join(file_table()) + "\n", encoding="utf-8")
    os.replace(tmp, README)


def write_readme(rows: dict[str, list[str]], order: list[str], seed: int, items: int) -> None:
    """The README from the training rows; each model's size and sha256 read from its file."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for name in order + sorted(set(rows) - set(order)):
        if name in rows:
            path = EXPORTED / f"names-{name}.onnx"
            cells = list(rows[name])
            if path.is_file():
                data = path.read_bytes()
                cells[4:6] = [str(len(data)), hashlib.sha256(data).hexdigest()]
            lines.append("| " + " | ".join(cells) + " |")
    text = (
        HEADER.format(seed=seed, items=items) + "\n".join(lines) + "\n" + FILES_HEADER + "\n".join(file_table()) + "\n"
    )
    tmp = README.with_name(README.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, README)


def fill_metadata(path: Path) -> bool:
    """Add the documented keys an older export left out, from what the file holds; put
    every key in export's order. Whether the file changed."""
    import onnx

    from mmzoo.engine.export.norms import norm_kinds, norm_label
    from mmzoo.plugins import get_zoo

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    spec = get_zoo().model(props["mmzoo.model"])
    network = spec.create(spec.config(**json.loads(props["mmzoo.config"])), len(json.loads(props["mmzoo.vocab"])))
    norm = norm_label(norm_kinds(network))
    if props.setdefault("mmzoo.norm", norm) != norm:
        raise SystemExit(f"{path.name}: mmzoo.norm says {props['mmzoo.norm']}, its network has {norm}")
    if "mmzoo.val_loss_calibrated" not in props:
        if props["mmzoo.bn_layers"] != "0":
            raise SystemExit(f"{path.name}: no calibrated val loss, and it has BatchNorm: retrain it")
        props["mmzoo.val_loss_calibrated"] = ""  # no BatchNorm: export did not calibrate
    ordered = {k: props[k] for k in KEY_ORDER if k in props} | props
    if list(ordered.items()) == [(p.key, p.value) for p in proto.metadata_props]:
        return False
    del proto.metadata_props[:]
    for key, value in ordered.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, path)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="only these (default: every built-in model)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fill-metadata", action="store_true", help="retrain nothing; add missing documented keys")
    args = parser.parse_args()
    from mmzoo.corpus import load_corpus

    order = builtin_models()
    if args.fill_metadata:
        changed = [m for m in args.models or order if fill_metadata(EXPORTED / f"names-{m}.onnx")]
        print(f"metadata filled in: {', '.join(changed) or 'none'}", file=sys.stderr)
        if changed:
            subprocess.run([sys.executable, str(REPO / "scripts" / "make_generators.py"), *changed], check=True)
        write_readme(read_table(), order, args.seed, len(load_corpus("names").items))
        return 0
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
    write_readme(rows, order, args.seed, len(load_corpus("names").items))  # the generators' hashes
    return 0


if __name__ == "__main__":
    os.chdir(REPO)
    raise SystemExit(main())
