"""What a run folder holds (file names, the checked JSON, the weights' bytes checked
against their sha256) and which folder a target names (`mlp-bn`: its newest run).
Torch-free: finding, reading and checking a run never needs torch; engine/checkpoint.py
turns the checked bytes into tensors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mmzoo.errors import MmzooError
from mmzoo.fsutil import read_regular
from mmzoo.runs.meta import RunMeta, parse_meta

MAX_RUN_FILE_BYTES = 1 << 31  # a checkpoint or its JSON; mmzoo's models are kilobytes to megabytes

WEIGHTS = "model.safetensors"
META = "model.json"
LAST_WEIGHTS = "last.safetensors"  # model + optimizer + rng, for --resume
LAST_META = "last.json"
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"}
RUNS_ROOT = Path("runs")  # runs/MODEL/<timestamp>/, relative to where mmzoo runs


def newest_run(model_name: str, root: Path = RUNS_ROOT) -> Path | None:
    folder = root / model_name
    if not folder.is_dir():
        return None
    # a hidden `.NAME.partial` is a run still being made (mmzoo.engine.commands.train)
    runs = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p / META).is_file())
    return runs[-1] if runs else None


def resolve(target: str, root: Path = RUNS_ROOT) -> Path:
    """A run folder, a checkpoint file, or a model name (its newest run)."""
    path = Path(target)
    if path.exists() or "/" in target or path.suffix:
        return checkpoint_dir(path)
    run = newest_run(target, root)
    if run is not None:
        return run
    from mmzoo.plugins import get_zoo

    get_zoo().model(target)  # unknown name: error with suggestions
    raise MmzooError(f"no run of {target} in {root}/: train it first with `mmzoo train {target}`")


def pair_matches(weights: Path, meta: Path) -> bool:
    try:
        want = json.loads(meta.read_text(encoding="utf-8")).get("weights_sha256")
        return hashlib.sha256(weights.read_bytes()).hexdigest() == want
    except (OSError, ValueError, AttributeError):
        return False


def prev_path(weights: Path) -> Path:
    return weights.with_name(f".{weights.name}.prev")


def read_bytes(path: Path, missing: str) -> bytes:
    """The file's bytes; `missing` is the error when it does not exist."""
    if not path.exists() and not path.is_symlink():
        raise MmzooError(missing)
    # A run folder is data: a model.json that is a FIFO or a link to /dev/zero is refused, not read.
    return read_regular(path, MAX_RUN_FILE_BYTES)


def load_meta(path: Path, last: bool = False) -> RunMeta:
    """The checked model.json (or last.json) of a run folder or checkpoint file."""
    directory = checkpoint_dir(path)
    meta_path = directory / (LAST_META if last else META)
    text = read_bytes(meta_path, f"{directory} has no {meta_path.name}: not an mmzoo run")
    return parse_meta(text, meta_path, last)


def checkpoint_dir(path: Path) -> Path:
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES or _looks_pickled(path):
        raise MmzooError(f"{path} looks like a pickle file: mmzoo never unpickles; use a run with {WEIGHTS}")
    if path.is_dir():
        return path
    if path.name in (WEIGHTS, META, LAST_WEIGHTS, LAST_META):
        return path.parent
    if path.exists():
        raise MmzooError(f"{path} is not an mmzoo run folder, {META} or {WEIGHTS}")
    raise MmzooError(f"no such run or checkpoint: {path}")


def _looks_pickled(path: Path) -> bool:
    """Pickle protocol 2+ starts with 0x80; torch.save's zip starts with PK."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(2)
    return head[:1] == b"\x80" or head == b"PK"


def read_pair(target: str | Path, last: bool = False) -> tuple[RunMeta, bytes, Path]:
    """(meta, the weights' bytes, the weights' path) of a target (see resolve), the
    bytes matching the sha256 in the JSON. A crash between the two renames of a save
    leaves new weights beside the old JSON; the old weights are still there under the
    `.prev` name, and they match it."""
    directory = resolve(str(target))
    weights = directory / (LAST_WEIGHTS if last else WEIGHTS)
    meta = load_meta(directory, last)  # first: a folder without model.json is "not an mmzoo run"
    data = read_bytes(weights, f"{directory} has no {weights.name}")
    if hashlib.sha256(data).hexdigest() != meta.weights_sha256:
        try:
            data = prev_path(weights).read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() != meta.weights_sha256:
            raise MmzooError(f"{weights} is damaged: its sha256 does not match the one in its JSON")
    return meta, data, weights
