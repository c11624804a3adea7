"""Shared fixtures: the installed `mmzoo` command, small corpora, quick runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_NAMES = REPO.parent / "shared" / "data" / "names.txt"
BUILTIN_NAMES = REPO / "mmzoo" / "datasets" / "names.txt"


def mmzoo_bin() -> str:
    """The console script installed next to this interpreter (the real entry point)."""
    candidate = Path(sys.executable).parent / "mmzoo"
    return str(candidate) if candidate.exists() else shutil.which("mmzoo") or "mmzoo"


def run_mmzoo(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True, timeout: int = 300
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run([mmzoo_bin(), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mmzoo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def sigint_default() -> None:
    """preexec_fn for a child the test will Ctrl-C: a shell that runs CI in the background
    starts it with SIGINT ignored, children inherit that, and Python then keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def names_file() -> Path:
    """makemore's names corpus when present beside the checkout, else the built-in one."""
    return SHARED_NAMES if SHARED_NAMES.exists() else BUILTIN_NAMES


@pytest.fixture
def small_names(tmp_path: Path) -> Path:
    """2,000 names: enough to train in seconds and still learn something."""
    items = BUILTIN_NAMES.read_text().split()[:2000]
    path = tmp_path / "small.txt"
    path.write_text("\n".join(items) + "\n")
    return path


@pytest.fixture(scope="session")
def trained_mlp_bn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short mlp-bn run on 2,000 names, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("mlpbn")
    data = root / "small.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:2000]) + "\n")
    run_mmzoo("train", "mlp-bn", "--data", str(data), "--steps", "300", "--out", str(root / "run"), "--json", cwd=root)
    return root / "run"
