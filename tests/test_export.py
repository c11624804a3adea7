"""Folding, export, the ONNX contract and onnxruntime sampling without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import run_mmzoo

from mmzoo.contract import REQUIRED_KEYS


@pytest.fixture(scope="module")
def exported(trained_mlp_bn: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "mlp-bn.onnx"
    run_mmzoo("export", str(trained_mlp_bn), "--out", str(out))
    return out


def test_exported_file_keeps_the_contract(exported: Path, trained_mlp_bn: Path) -> None:
    proto = onnx.load(str(exported))
    onnx.checker.check_model(proto, full_check=True)
    assert not exported.with_suffix(".onnx.data").exists()
    assert not list(exported.parent.glob("*.data"))
    ops = [n.op_type for n in proto.graph.node]
    assert "BatchNormalization" not in ops
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    assert any(o.domain in ("", "ai.onnx") and o.version == 20 for o in proto.opset_import)
    props = {p.key: p.value for p in proto.metadata_props}
    assert set(REQUIRED_KEYS) <= set(props)
    meta = json.loads((trained_mlp_bn / "model.json").read_text())
    assert json.loads(props["mmzoo.vocab"]) == meta["vocab"]
    assert props["mmzoo.input"] == "window" and props["mmzoo.context_length"] == "3"
    assert props["mmzoo.state"] == "[]" and props["mmzoo.bn_folded"] == "true"
    assert props["mmzoo.calibrated"] in ("true", "false") and props["mmzoo.max_length"] == str(meta["max_length"])
    assert json.loads(props["mmzoo.config"]) == meta["config"]
    (idx,) = proto.graph.input
    assert idx.type.tensor_type.shape.dim[0].dim_param  # batch is dynamic
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param


@pytest.mark.slow
def test_onnxruntime_matches_torch_and_gives_the_same_names(trained_mlp_bn: Path, tmp_path: Path) -> None:
    out = tmp_path / "raw.onnx"
    doc = json.loads(run_mmzoo("export", str(trained_mlp_bn), "--out", str(out), "--no-calibrate", "--json").stdout)
    assert doc["calibrated"] is False and doc["val_loss_calibrated"] is None
    assert max(doc["parity_max_abs_diff"].values()) <= 1e-4
    assert doc["val_loss"] == pytest.approx(doc["val_loss_uncalibrated"])
    torch_names = run_mmzoo("sample", str(trained_mlp_bn), "-n", "40", "--seed", "11").stdout
    ort_names = run_mmzoo("sample", str(out), "-n", "40", "--seed", "11").stdout
    assert ort_names == torch_names


def test_calibration_records_both_losses_and_keeps_the_better(exported: Path, trained_mlp_bn: Path) -> None:
    props = {p.key: p.value for p in onnx.load(str(exported)).metadata_props}
    running, calibrated = float(props["mmzoo.val_loss_uncalibrated"]), float(props["mmzoo.val_loss_calibrated"])
    kept = float(props["mmzoo.val_loss"])
    assert kept == min(running, calibrated)
    assert props["mmzoo.calibrated"] == ("true" if calibrated < running else "false")
    run_val = json.loads((trained_mlp_bn / "model.json").read_text())["metrics"]["val_loss"]
    assert running == pytest.approx(run_val, abs=1e-6)  # the running statistics are the run's own


@pytest.mark.slow
def test_calibrate_forces_and_no_calibrate_skips(trained_mlp_bn: Path, tmp_path: Path) -> None:
    forced = json.loads(
        run_mmzoo("export", str(trained_mlp_bn), "--out", str(tmp_path / "a.onnx"), "--calibrate", "--json").stdout
    )
    assert forced["calibrated"] is True and forced["val_loss"] == forced["val_loss_calibrated"]
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "a.onnx")).metadata_props}
    assert props["mmzoo.calibrated"] == "true"


def _torch_blocked_env(tmp_path: Path) -> dict[str, str]:
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('torch is blocked in this test')\n")
    return {**os.environ, "PYTHONPATH": str(blocker.parent)}


def test_sampling_never_imports_torch(exported: Path, tmp_path: Path) -> None:
    env = _torch_blocked_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert "blocked" in probe.stderr  # the blocker works
    sample = run_mmzoo("sample", str(exported), "-n", "10", "--seed", "1", env=env)
    assert len(sample.stdout.split()) == 10
    info = run_mmzoo("info", str(exported), "--json", env=env)
    assert json.loads(info.stdout)["metadata"]["mmzoo.model"] == "mlp-bn"
    code = (
        "from mmzoo.runtime import OnnxSampler; import sys;"
        f"s = OnnxSampler({str(exported)!r}).sample(10, temperature=0.8, seed=1);"
        "assert len(s) == 10; assert 'torch' not in sys.modules; print(s[0])"
    )
    api = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert api.returncode == 0, api.stderr


def test_python_api_same_seed_same_samples_any_batch(exported: Path) -> None:
    from mmzoo.runtime import OnnxSampler

    sampler = OnnxSampler(exported)
    a = sampler.sample(50, temperature=0.8, seed=3, batch_size=50)
    b = sampler.sample(50, temperature=0.8, seed=3, batch_size=1)
    c = sampler.sample(50, temperature=0.8, seed=4)
    assert a == b and a != c
    topk = sampler.sample(200, top_k=1, seed=0)
    assert len(set(topk)) == 1  # greedy: one name


def test_providers(exported: Path) -> None:
    bogus = run_mmzoo("sample", str(exported), "--provider", "warp-drive", check=False)
    assert bogus.returncode == 1 and "unknown provider" in bogus.stderr
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        cuda = run_mmzoo("sample", str(exported), "--provider", "cuda", check=False)
        assert cuda.returncode == 1
        assert "not available" in cuda.stderr and "CPUExecutionProvider" in cuda.stderr
    auto = run_mmzoo("sample", str(exported), "--provider", "auto", "-n", "2")
    assert "mmzoo: using" in auto.stderr
    cpu = json.loads(run_mmzoo("sample", str(exported), "--provider", "cpu", "-n", "2", "--json").stdout)
    assert cpu["provider"] == "CPUExecutionProvider"


def test_damaged_and_foreign_files_are_clear_errors(exported: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    proc = run_mmzoo("sample", str(damaged), check=False)
    assert proc.returncode == 1 and "cannot be loaded" in proc.stderr and "Traceback" not in proc.stderr
    foreign = tmp_path / "foreign.onnx"
    proto = onnx.load(str(exported))
    del proto.metadata_props[:]
    onnx.save(proto, str(foreign))
    proc = run_mmzoo("info", str(foreign), check=False)
    assert proc.returncode == 1 and "no mmzoo metadata" in proc.stderr


@pytest.mark.slow
def test_failed_export_leaves_no_file(trained_mlp_bn: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    proc = run_mmzoo("export", str(trained_mlp_bn), "--out", str(out), "--opset", "3", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_ort_logits_at_large_batch(exported: Path, trained_mlp_bn: Path) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(exported))
    x = np.random.default_rng(0).integers(0, 27, (1000, 3)).astype(np.int64)
    assert session.run(["logits"], {"idx": x})[0].shape == (1000, 27)


def test_written_files_get_the_umask_mode_not_mkstemps_0600(exported: Path, trained_mlp_bn: Path) -> None:
    """Exports and checkpoints are written via temp files; others must still read them."""
    mask = os.umask(0)
    os.umask(mask)
    expected = 0o666 & ~mask
    assert exported.stat().st_mode & 0o777 == expected
    for name in ("model.safetensors", "model.json"):
        assert (trained_mlp_bn / name).stat().st_mode & 0o777 == expected
