"""The example clients an app developer would copy: examples/node/sample.mjs on
onnxruntime-node and examples/python/sample.py on onnxruntime and numpy alone, run
as real processes against every pretrained file and against a generate file."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run_mmzoo

EXPORTED = REPO / "mmzoo" / "pretrained"
NODE_DIR = REPO / "examples" / "node"
PYTHON_CLIENT = REPO / "examples" / "python" / "sample.py"
PRETRAINED = sorted(EXPORTED.glob("names-*.onnx"))
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def vocab_of(path: Path) -> list[str]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    if "mmzoo.vocab" in props:
        return json.loads(props["mmzoo.vocab"])
    return [chr(c) for c in session.run(["vocab"], feeds_for_vocab(session))[0]]


def feeds_for_vocab(session: Any) -> dict[str, Any]:
    import numpy as np

    width = next(a.shape[1] for a in session.get_inputs() if a.name == "uniforms")
    return {
        "uniforms": np.zeros((1, width if isinstance(width, int) else 1), dtype=np.float32),
        "temperature": np.array(1.0, dtype=np.float32),
        "top_k": np.array(0, dtype=np.int64),
    }


def check_items(stdout: str, n: int, vocab: list[str]) -> None:
    lines = stdout.split("\n")
    assert lines[-1] == "" and len(lines) == n + 1, f"want {n} lines, got:\n{stdout}"
    items = lines[:-1]
    assert all(set(item) <= set(vocab[1:]) for item in items), items
    assert len(set(items)) > 1, items  # a sampler, not a constant


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hand-made files (tests/synthetic_files.py): generate, and step and sequence files
    with context_length 8 whose items are 26 letters long."""
    import synthetic_files as sf

    root = tmp_path_factory.mktemp("made")
    return {
        "generate": sf.generate_file(root / "generate.onnx"),
        "step": sf.step_file(root / "step.onnx"),
        "sequence": sf.sequence_file(root / "sequence.onnx"),
    }


@pytest.fixture(scope="module")
def node() -> str:
    """node, with onnxruntime-node in examples/node as the lockfile pins it (`npm ci
    --ignore-scripts`, what .ci/run does first: the CPU binaries ship in the npm package,
    --ignore-scripts skips the postinstall that downloads CUDA ones); installed here if
    missing, under a lock so that two pytest workers do not both install."""
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not on PATH")
    if not (NODE_DIR / "node_modules" / "onnxruntime-node").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node without npm"
        with open(NODE_DIR / ".npm-ci.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (NODE_DIR / "node_modules" / "onnxruntime-node").is_dir():
                subprocess.run(
                    [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600
                )
    return exe


def run_node(node: str, path: Path, n: int, *args: str) -> str:
    proc = subprocess.run(
        [node, str(NODE_DIR / "sample.mjs"), str(path), str(n), *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def run_python(path: Path, n: int, python: str = sys.executable) -> str:
    proc = subprocess.run([python, str(PYTHON_CLIENT), str(path), str(n)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_pretrained_file_is_covered() -> None:
    assert len(PRETRAINED) >= 9


# (seed, options): defaults; temperature and top-k; a negative seed (wraps to 64 bits) and a
# temperature above 1
NODE_SETTINGS = [("0", []), ("3", ["--temperature", "0.8", "--top-k", "5"]), ("-9", ["--temperature", "1.4"])]


@pytest.mark.slow
@pytest.mark.parametrize("path", PRETRAINED, ids=lambda p: p.stem)
def test_node_client_gives_the_clis_names(node: str, path: Path) -> None:
    """Step/window files and generator files alike: mmzoo's uniforms, in mmzoo's order."""
    check_items(run_node(node, path, 12), 12, vocab_of(path))
    for seed, options in NODE_SETTINGS:
        want = run_mmzoo("sample", str(path), "-n", "40", f"--seed={seed}", *options).stdout
        assert run_node(node, path, 40, seed, *options) == want, (seed, options)
    # and a different seed gives different names: the comparison can fail
    assert run_node(node, path, 40, "1") != run_mmzoo("sample", str(path), "-n", "40", "--seed=0").stdout


@pytest.mark.slow
def test_node_client_same_names_from_both_kinds_of_file(node: str) -> None:
    step, gen = EXPORTED / "names-gru.onnx", EXPORTED / "names-gru.gen.onnx"
    assert run_node(node, step, 200, "5") == run_node(node, gen, 200, "5")
    prefixed = run_node(node, step, 20, "5", "--prefix", "ka")
    assert prefixed == run_mmzoo("sample", str(step), "-n", "20", "--seed", "5", "--prefix", "ka").stdout
    assert all(line.startswith("ka") for line in prefixed.splitlines())


@pytest.mark.slow
def test_node_client_generate_file(node: str, made: dict[str, Path]) -> None:
    out = run_node(node, made["generate"], 10)
    check_items(out, 10, ["."] + list(LETTERS))
    assert all(len(item) == 4 for item in out.split())


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["step", "sequence"])
def test_node_client_past_context_length(node: str, made: dict[str, Path], mode: str) -> None:
    assert run_node(node, made[mode], 3) == f"{LETTERS}\n" * 3


@pytest.mark.slow
def test_node_client_bad_file(node: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    proc = subprocess.run([node, str(NODE_DIR / "sample.mjs"), str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and proc.stderr.startswith("sample.mjs: error:") and proc.stdout == ""


@pytest.mark.parametrize("path", PRETRAINED, ids=lambda p: p.stem)
def test_python_client(path: Path) -> None:
    check_items(run_python(path, 12), 12, vocab_of(path))


def test_python_client_generate_file(made: dict[str, Path]) -> None:
    out = run_python(made["generate"], 10)
    check_items(out, 10, ["."] + list(LETTERS))
    assert all(len(item) == 4 for item in out.split())


@pytest.mark.parametrize("mode", ["step", "sequence"])
def test_clients_past_context_length(made: dict[str, Path], mode: str) -> None:
    """Items of 26 letters from files that know 8 positions: both clients and
    `mmzoo sample` crop instead of crashing onnxruntime."""
    assert run_python(made[mode], 3) == f"{LETTERS}\n" * 3
    assert run_mmzoo("sample", str(made[mode]), "-n", "3").stdout == f"{LETTERS}\n" * 3


def test_python_client_imports_neither_mmzoo_nor_torch() -> None:
    source = PYTHON_CLIENT.read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"__future__", "json", "sys", "numpy", "onnxruntime"}
