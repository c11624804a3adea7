"""Export of third-party networks, through a real pip-installed plugin package
(tests/plugin_pkgs/mmzoo-testnets): Conv1d -> BatchNorm1d and Linear -> transpose
-> BatchNorm1d fold away, a sequence-mode model exports and samples end to end,
and a non-causal model is refused at train start, at export and by the test kit."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch
from conftest import BUILTIN_NAMES, REPO, run_mmzoo

PACKAGE = REPO / "tests" / "plugin_pkgs" / "mmzoo-testnets"


@pytest.fixture(scope="module")
def testnets() -> None:
    """mmzoo-testnets installed like any plugin (`make test` does it; this covers a bare pytest)."""
    try:
        importlib.metadata.distribution("mmzoo-testnets")
    except importlib.metadata.PackageNotFoundError:
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(PACKAGE)]
        subprocess.run(pip, check=True, capture_output=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "names600.txt"
    path.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:600]) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tcn", "tcn-linear"])
def test_conv_nets_fold_every_batchnorm_and_sample(name: str, testnets: None, data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_mmzoo("train", name, "--data", str(data), "--steps", "40", "--threads", "1", "--out", str(run), "--json")
    out = tmp_path / f"{name}.onnx"
    doc = json.loads(run_mmzoo("export", str(run), "--out", str(out), "--json").stdout)
    proto = onnx.load(str(out))
    ops = [n.op_type for n in proto.graph.node]
    assert "BatchNormalization" not in ops
    assert doc["bn_folded"] == 4
    if name == "tcn-linear":  # our graph pass: through the transpose, into the Linear's MatMul and bias
        assert [f["how"] for f in doc["fold"]] == ["into MatMul via Transpose, Add"] * 4
    assert set(doc["parity_max_abs_diff"]) == {"batch_1", "batch_1000"}
    assert max(doc["parity_max_abs_diff"].values()) <= 1e-5
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["mmzoo.input"] == "sequence" and props["mmzoo.state"] == "[]"
    run_val = json.loads((run / "model.json").read_text())["metrics"]["val_loss"]
    assert doc["val_loss"] <= run_val + 0.002
    names = run_mmzoo("sample", str(out), "-n", "8", "--seed", "3").stdout.split()
    assert len(names) == 8 and all(n.isalpha() and n.islower() for n in names)


def test_non_causal_model_is_refused_at_train_start(testnets: None, data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = run_mmzoo("train", "tcn-leaky", "--data", str(data), "--steps", "5", "--out", str(run), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("mmzoo: error")]
    assert "tcn-leaky is not causal: its logits at position 0 change with token 1" in line
    assert not run.exists()


def _leaky_run(data: Path, run: Path) -> None:
    """A checkpoint of the leaky net made without `mmzoo train` (which refuses it)."""
    from mmzoo.corpus import load_corpus
    from mmzoo.engine import checkpoint
    from mmzoo.engine.training.trainer import checkpoint_meta
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("tcn-leaky")
    corpus = load_corpus(data)
    config = spec.config()
    model = spec.create(config, corpus.vocab.size)
    metrics = {"step": 0, "train_loss": 3.3, "val_loss": 3.3, "train_seconds": 0.0}
    run.mkdir()
    checkpoint.save(run, model.state_dict(), checkpoint_meta(spec, config, corpus, 42, model, spec.recipe, metrics))


def test_non_causal_model_is_refused_at_export(testnets: None, data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _leaky_run(data, run)
    out = tmp_path / "leaky.onnx"
    proc = run_mmzoo("export", str(run), "--out", str(out), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "not causal: its logits at position 0 change with token 1" in proc.stderr
    assert "refusing to export" in proc.stderr and not out.exists()


def test_test_kit_fails_a_non_causal_model_and_passes_the_causal_ones(testnets: None) -> None:
    from mmzoo.plugins import get_zoo
    from mmzoo.testing import check_model_contract

    zoo = get_zoo()
    for name in ("tcn", "tcn-linear"):
        spec = zoo.model(name)
        check_model_contract(spec.create(spec.config(), 27), 27)
    leaky = zoo.model("tcn-leaky")
    with pytest.raises(AssertionError, match="not causal: logits at position 0 change with token 1"):
        check_model_contract(leaky.create(leaky.config(), 27), 27)


def test_test_kit_catches_a_leak_beyond_the_sixth_token(testnets: None) -> None:
    """The old kit changed only the last of at most 6 tokens; a leak that starts later went unseen."""
    from mmzoo.plugins import get_zoo
    from mmzoo.testing import check_model_contract

    spec = get_zoo().model("tcn")
    model = spec.create(spec.config(), 27)
    forward = model.forward

    def late_leak(idx: torch.Tensor) -> torch.Tensor:
        logits = forward(idx).clone()
        if idx.shape[1] > 10:
            logits[:, 9] += idx[:, 10:11].float()  # position 9 sees token 10
        return logits

    model.forward = late_leak  # type: ignore[method-assign]
    with pytest.raises(AssertionError, match="position 9 change with token 10"):
        check_model_contract(model, 27)


@pytest.mark.slow
def test_test_kit_runs_a_sequence_model_end_to_end(testnets: None, tmp_path: Path) -> None:
    from mmzoo.plugins import get_zoo
    from mmzoo.testing import check_model_spec

    spec = get_zoo().model("tcn-linear")
    result = check_model_spec(dataclasses.replace(spec), tmp_path, steps=30)
    assert max(result.parity.values()) <= 1e-5 and len(result.samples) == 5
