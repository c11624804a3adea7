"""The thread policy: --threads, then MMZOO_THREADS, then one thread for small models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import run_mmzoo

from mmzoo import threads
from mmzoo.engine.threads import use_threads
from mmzoo.errors import MmzooError
from mmzoo.threads import MULTI_THREAD_PARAMS, THREADS_ENV, choose_threads


def test_explicit_beats_environment_beats_policy() -> None:
    env = {THREADS_ENV: "3"}
    assert choose_threads(200_000, explicit=2, env=env) == (2, "--threads")
    assert choose_threads(200_000, env=env) == (3, THREADS_ENV)
    assert choose_threads(200_000, env={}) == (1, "small model")
    assert choose_threads(None, env={THREADS_ENV: " "}) == (1, "small model")


def test_big_models_get_the_idle_cores_they_can_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "idle_cores", lambda cores: cores)
    assert choose_threads(MULTI_THREAD_PARAMS - 1, env={})[0] == 1
    assert choose_threads(3_500_000, env={})[0] == 3
    assert choose_threads(50_000_000, env={})[0] == 8
    monkeypatch.setattr(threads, "idle_cores", lambda cores: 1)  # a busy machine
    assert choose_threads(50_000_000, env={})[0] == 1


def test_idle_cores_follows_the_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.2, 0.0, 0.0))
    assert threads.idle_cores(4) == 3
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert threads.idle_cores(4) == 1


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_counts_are_refused(value: str) -> None:
    with pytest.raises(MmzooError, match=THREADS_ENV):
        choose_threads(None, env={THREADS_ENV: value})


def test_use_threads_sets_torch() -> None:
    before = torch.get_num_threads()
    try:
        assert use_threads(2, None) == 2 and torch.get_num_threads() == 2
        assert use_threads(None, 1000) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_every_torch_command_takes_threads(trained_mlp_bn: Path, tmp_path: Path, small_names: Path) -> None:
    run = str(trained_mlp_bn)
    for args in (("eval", run), ("sample", run, "-n", "2"), ("export", run, "--out", str(tmp_path / "m.onnx"))):
        assert run_mmzoo(*args, "--threads", "1", cwd=tmp_path).returncode == 0
        bad = run_mmzoo(*args, "--threads", "0", cwd=tmp_path, check=False)
        assert bad.returncode == 1 and bad.stderr.strip() == "mmzoo: error: --threads must be >= 1, got 0"
    assert "--threads" in run_mmzoo("diagnose", "--help").stdout
    train = ("train", "bigram-nn", "--data", str(small_names), "--steps", "2")
    assert "items, 1 thread)" in run_mmzoo(*train, "--out", "a", cwd=tmp_path, env={THREADS_ENV: ""}).stderr
    assert "items, 2 threads)" in run_mmzoo(*train, "--out", "b", cwd=tmp_path, env={THREADS_ENV: "2"}).stderr
    bad = run_mmzoo(*train, cwd=tmp_path, env={THREADS_ENV: "lots"}, check=False)
    assert bad.returncode == 1 and "MMZOO_THREADS must be a whole number" in bad.stderr
    assert not (tmp_path / "runs").exists(), "a refused thread count left a run folder"
