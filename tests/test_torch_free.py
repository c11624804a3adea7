"""The torch-free install (issue 12): a venv with only numpy and onnxruntime, plus
`pip install --no-deps` of this repository, samples and describes exported files and
answers --help; every other command says, in one line, that it needs the train extra."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, run_mmzoo

PRETRAINED = REPO / "mmzoo" / "pretrained" / "names-gru.onnx"
FORBIDDEN = ("torch", "typer", "rich", "pluggy", "onnx", "onnxscript", "safetensors", "click")


def test_core_dependencies_are_numpy_and_onnxruntime() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]}
    assert names == {"numpy", "onnxruntime"}
    train = {re.split(r"[<>=\[ ]", d)[0] for d in project["optional-dependencies"]["train"]}
    assert {"torch", "typer", "rich", "pluggy", "onnx", "onnxscript", "safetensors"} <= train


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv: numpy and onnxruntime (the versions this one has, so pip's
    cache serves them), then this repository's wheel (`pip wheel --no-deps`, in ../wheel/)
    without its dependencies: what an app installs."""
    import numpy
    import onnxruntime

    root = tmp_path_factory.mktemp("lean")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    wheels = [f"numpy=={numpy.__version__}", f"onnxruntime=={onnxruntime.__version__}"]
    subprocess.run([*pip, "install", *wheels], check=True, timeout=600, capture_output=True)
    # built from a copy of what the wheel is made of: setuptools would reuse the checkout's
    # build/ (stale modules included)
    source = root / "source"
    shutil.copytree(REPO / "mmzoo", source / "mmzoo", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(root / "wheel"), str(source)], check=True, timeout=600)
    built = [str(w) for w in (root / "wheel").glob("mmzoo-*.whl")]
    subprocess.run([*pip, "install", "--no-deps", *built], check=True, timeout=600, capture_output=True)
    return venv / "bin"


def lean_mmzoo(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "mmzoo"), *args], capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.slow
def test_the_lean_venv_has_no_training_stack(lean: Path) -> None:
    for module in FORBIDDEN:
        proc = subprocess.run([str(lean / "python"), "-c", f"import {module}"], capture_output=True, timeout=60)
        assert proc.returncode != 0, f"{module} is importable in the torch-free venv"


@pytest.mark.slow
def test_help_without_typer(lean: Path) -> None:
    for args, wants in [
        (["--help"], ["sample FILE.onnx", "info FILE.onnx", "'.[train]'"]),
        ([], ["sample FILE.onnx"]),
        (["sample", "--help"], ["--temperature", "--top-k", "--prefix", "--seed", "--json"]),
        (["info", "-h"], ["FILE.onnx", "--json"]),
    ]:
        proc = lean_mmzoo(lean, *args)
        assert proc.returncode == 0 and proc.stderr == "", (args, proc.stderr)
        assert all(w in proc.stdout for w in wants), (args, proc.stdout)


@pytest.mark.slow
def test_sample_and_info_without_torch_typer_or_rich(lean: Path) -> None:
    args = ["sample", str(PRETRAINED), "-n", "12", "--seed", "5", "--prefix", "ka"]
    proc = lean_mmzoo(lean, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == run_mmzoo(*args).stdout  # the full install's items, to the letter
    info = lean_mmzoo(lean, "info", str(PRETRAINED))
    assert info.returncode == 0, info.stderr
    assert re.search(r"^mmzoo\.model\s+gru$", info.stdout, re.M) and "logits" in info.stdout
    doc = json.loads(lean_mmzoo(lean, "info", str(PRETRAINED), "--json").stdout)
    assert doc["metadata"]["mmzoo.input"] == "step"


@pytest.mark.slow
def test_other_commands_say_what_to_install(lean: Path) -> None:
    for args in (["train", "mlp"], ["list"], ["sample", "lstm"]):
        proc = lean_mmzoo(lean, *args)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc.stdout)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("mmzoo: error:") and "'.[train]'" in lines[0], lines
    bad = lean_mmzoo(lean, "sample", str(PRETRAINED), "-n", "many")
    assert bad.returncode == 2 and bad.stderr.startswith("mmzoo: error:") and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_the_python_example_runs_in_the_lean_venv(lean: Path) -> None:
    proc = subprocess.run(
        [str(lean / "python"), str(REPO / "examples" / "python" / "sample.py"), str(PRETRAINED), "7"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 7


@pytest.mark.slow
def test_the_wheel_carries_the_zoo_and_samples_it_from_anywhere(lean: Path, tmp_path: Path) -> None:
    """`mmzoo sample gru` from an empty folder outside the checkout: the installed wheel's
    copy of the pretrained file, the names the checkout's file gives (issue 23)."""
    (wheel,) = (lean.parent.parent / "wheel").glob("mmzoo-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    zoo = sorted(f"mmzoo/pretrained/{p.name}" for p in PRETRAINED.parent.glob("names-*.onnx"))
    assert len(zoo) >= 18 and set(zoo) <= packed, set(zoo) - packed
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["sample", "gru", "-n", "5", "--seed", "2"]
    proc = subprocess.run([str(lean / "mmzoo"), *args], capture_output=True, text=True, timeout=120, cwd=empty)
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.splitlines()
    assert len(names) == 5 and all(name.isalpha() and name.islower() for name in names), names
    installed = Path(proc.stderr.split("sampling the pretrained ")[1].split()[0])
    assert installed.is_relative_to(lean.parent) and installed.name == "names-gru.onnx", proc.stderr
    assert proc.stdout == run_mmzoo("sample", str(PRETRAINED), "-n", "5", "--seed", "2").stdout
    # the full install (this venv's, editable), from the same empty folder
    assert run_mmzoo(*args, cwd=empty).stdout == proc.stdout
    assert not list(empty.iterdir())  # and it wrote nothing there


# The tree shows where torch starts (mmzoo/engine/__init__.py): everything outside
# engine/ and the families' model.py imports without it. mmzoo.nn is the one exception
# at the top: the public face of models/blocks.py for plugin networks.
TORCH_SIDE = ("mmzoo.engine", "mmzoo.nn")


def torch_free_modules() -> list[str]:
    names = []
    for path in sorted((REPO / "mmzoo").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name.startswith(TORCH_SIDE) or (name.startswith("mmzoo.models.") and parts[-1] in ("model", "blocks")):
            continue
        if name == "mmzoo.__main__":  # importing it runs the CLI
            continue
        names.append(name)
    return names


def test_every_module_outside_engine_and_model_files_imports_without_torch() -> None:
    """In a fresh interpreter where `import torch` fails, every torch-free module imports."""
    modules = torch_free_modules()
    assert {"mmzoo.runs.folder", "mmzoo.graphs.fold", "mmzoo.corpus.store", "mmzoo.models.mlp"} <= set(modules)
    code = (
        "import importlib, sys\n"
        "sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('mmzoo')).__len__())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout) >= len(modules)
