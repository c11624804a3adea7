"""The plugin's own tests, written as any third-party plugin's would be: through
mmzoo.testing and the installed `mmzoo` command, never mmzoo's internals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mmzoo_lstm
import pytest
import torch
from mmzoo_lstm import SPEC, LSTMConfig
from mmzoo_lstm.model import LSTM

from mmzoo.testing import check_model_contract, check_model_spec, check_plugin, tiny_corpus


def test_plugin_loads_cleanly() -> None:
    info = check_plugin(mmzoo_lstm)
    assert info.models == ["lstm"]
    assert info.api == 2  # it uses ModelSpec.params and mmzoo.StateSpec


@pytest.mark.parametrize("n_layer", [1, 3])
def test_step_matches_forward_with_any_weights(n_layer: int) -> None:
    """Random weights everywhere, the learned start state and peepholes included:
    a step() that skipped the start state at pos 0 or a peephole would differ."""
    torch.manual_seed(n_layer)
    model = LSTM(LSTMConfig(n_embd=8, n_hidden=16, n_layer=n_layer), vocab_size=11)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    check_model_contract(model, vocab_size=11)


def test_skip_connections_reach_every_layer() -> None:
    """Graves's skip connections: the head reads every layer, and every layer reads the input."""
    model = LSTM(LSTMConfig(n_embd=8, n_hidden=16, n_layer=3), vocab_size=11)
    idx = torch.randint(0, 11, (2, 5))
    model(idx).sum().backward()
    assert model.head.in_features == 3 * 16
    assert model.from_input.out_features == 3 * 4 * 16
    grads = model.from_input.weight.grad.view(3, 4 * 16, 8)
    assert all(grads[layer].abs().sum() > 0 for layer in range(3))


def test_spec_trains_exports_and_samples(tmp_path: Path) -> None:
    """Two layers, so the layer-to-layer weights are exported and checked too."""
    check = check_model_spec(SPEC, tmp_path, config=LSTMConfig(n_embd=16, n_hidden=32, n_layer=2))
    assert check.val_loss < check.initial_val_loss
    assert max(check.parity.values()) <= 1e-4
    assert len(check.samples) == 5


def _mmzoo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "mmzoo"
    proc = subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, f"mmzoo {' '.join(args)} failed:\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_installed_command_lists_trains_exports_and_samples(tmp_path: Path) -> None:
    """What a user does after `pip install mmzoo-lstm`, through the entry point."""
    rows = json.loads(_mmzoo("list", "lstm", "--json", cwd=tmp_path).stdout)
    assert [(r["name"], r["plugin"], r["plugin_version"]) for r in rows] == [
        ("lstm", "mmzoo-lstm", metadata.version("mmzoo-lstm"))
    ]
    data = tiny_corpus(tmp_path)
    _mmzoo("train", "lstm", "--data", str(data), "--steps", "5", "--set", "n_hidden=16", "--out", "run", cwd=tmp_path)
    exported = json.loads(_mmzoo("export", "run", "--out", "lstm.onnx", "--json", cwd=tmp_path).stdout)
    assert max(exported["parity_max_abs_diff"].values()) <= 1e-4
    doc = json.loads(_mmzoo("sample", "lstm.onnx", "-n", "4", "--json", cwd=tmp_path).stdout)
    assert doc["model"] == "lstm" and len(doc["samples"]) == 4
