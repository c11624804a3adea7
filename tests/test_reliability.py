"""Reliability beyond one-line errors: divergence keeps the last good checkpoint,
a full disk leaves nothing behind, two trainings never share a folder, greedy at
a vanishing temperature, and output that cannot break lines."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BUILTIN_NAMES, mmzoo_bin, run_mmzoo, sigint_default

from mmzoo.corpus import load_corpus
from mmzoo.errors import MmzooError


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow  # torch.optim imports torch._dynamo: seconds
def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, small_names: Path) -> None:
    import torch

    from mmzoo.engine import checkpoint
    from mmzoo.engine.opened_run import open_run
    from mmzoo.engine.training.trainer import Trainer, TrainingDiverged
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("bigram-nn")
    recipe = spec.recipe.__class__(steps=60, batch_size=32, eval_every=20)
    run = tmp_path / "run"
    trainer = Trainer(spec, load_corpus(str(small_names)), spec.config(), recipe, 1, run, lambda m: None)
    saved: dict[str, str] = {}

    def blow_up(step: int, total: int, loss: float, best: float) -> None:
        if step == 30:  # after the checkpoints of step 20: what a wild update does
            saved.update(_digests(run))
            with torch.no_grad():
                for p in trainer.model.parameters():
                    p.mul_(1e4)

    with pytest.raises(TrainingDiverged, match="diverged at step 31"):
        trainer.loop(blow_up)
    assert _digests(run) == saved, "a checkpoint was written after the divergence"
    assert json.loads((run / checkpoint.META).read_text())["metrics"]["step"] == 20
    assert open_run(run).meta.model == "bigram-nn"


def test_a_full_disk_is_one_line_and_leaves_no_run(tmp_path: Path, small_names: Path, monkeypatch, capsys) -> None:
    from mmzoo import fsutil
    from mmzoo.cli.app import main

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(fsutil, "write_synced", full)
    monkeypatch.chdir(tmp_path)
    code = main(["train", "bigram-nn", "--data", str(small_names), "--steps", "5", "--out", "X"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("mmzoo: error: No space left on device: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.txt"], "the failed run left files behind"


@pytest.mark.slow
def test_two_trainings_into_one_folder_the_second_refuses(tmp_path: Path) -> None:
    """The issue's first reproduction: both used to exit 0 with the runs mixed in one folder."""
    data = tmp_path / "tiny.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:300]) + "\n")
    args = ["train", "bigram-nn", "--data", str(data), "--threads", "1", "--out", "X", "--batch-size", "64"]
    first = subprocess.Popen(
        [mmzoo_bin(), *args, "--steps", "1000000", "--patience", "0"],  # runs until stopped
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        preexec_fn=sigint_default,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / ".X.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_mmzoo(*args, "--steps", "10", "--seed", "7", "--lr", "0.01", cwd=tmp_path, check=False)
    assert first.poll() is None, "the first training ended before the second tried"
    first.send_signal(signal.SIGINT)  # Ctrl-C: it saves and exits 130
    try:
        _, err = first.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        first.send_signal(signal.SIGUSR1)  # mmzoo prints every thread's stack on SIGUSR1
        time.sleep(2)
        first.kill()
        _, err = first.communicate()
        raise AssertionError("Ctrl-C did not stop the training; its stacks:\n" + err.decode()[-6000:]) from None
    assert first.returncode == 130 and second.returncode == 1, err.decode()[-2000:]
    assert "is writing X" in second.stderr
    assert json.loads((tmp_path / "X" / "model.json").read_text())["split"]["seed"] == 42
    steps = [json.loads(line)["step"] for line in (tmp_path / "X" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)), "metrics.jsonl mixes two runs"
    assert not (tmp_path / ".X.lock").exists()


def test_a_vanishing_temperature_is_greedy() -> None:
    from mmzoo.runtime.sampling import choose

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 27)).astype(np.float32)
    u = rng.random(50)
    for t in (1e-310, 5e-324, 1e-30):
        assert (choose(logits, u, t) == logits.argmax(axis=1)).all()
    assert not (choose(logits, u, 1.0) == logits.argmax(axis=1)).all()  # the check can tell


def test_output_escapes_control_characters(capsys) -> None:
    from mmzoo.cli.output import escape_controls, print_samples

    print_samples({"samples": ["an\nna", "\x1b[31mred", "zoë\u2028x", "tab\tbed", "\ud800"]}, as_json=False)
    out = capsys.readouterr().out
    assert out.splitlines() == ["an\\nna", "\\x1b[31mred", "zoë\\u2028x", "tab\\tbed", "\\ud800"]
    assert escape_controls("ada") == "ada" and escape_controls("zoë") == "zoë"


def test_item_length_limit_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("ann\n" + "b" * 21 + "\ncy\n")
    with pytest.raises(MmzooError, match=r"line 2 is 21 characters long, over the limit of 20"):
        load_corpus(str(path), max_item_length=20)
    assert load_corpus(str(path), max_item_length=21).max_length == 22


def test_a_run_folder_pair_is_checked_against_its_checksum(tmp_path: Path, small_names: Path) -> None:
    """Weights swapped for other valid weights (another run's) are refused, not loaded."""
    import shutil

    from mmzoo.engine import checkpoint
    from mmzoo.engine.training.trainer import train
    from mmzoo.plugins import get_zoo

    spec = get_zoo().model("bigram-nn")
    recipe = spec.recipe.__class__(steps=4, batch_size=32, eval_every=2)
    corpus = load_corpus(str(small_names))
    for seed in (1, 2):
        train(spec, corpus, spec.config(), recipe, seed, tmp_path / f"r{seed}", log=lambda m: None)
    shutil.copy(tmp_path / "r2" / checkpoint.WEIGHTS, tmp_path / "r1" / checkpoint.WEIGHTS)
    with pytest.raises(MmzooError, match="sha256 does not match"):
        checkpoint.load(tmp_path / "r1")
    tensors, meta = checkpoint.load(tmp_path / "r2")
    assert math.isfinite(meta.metrics["val_loss"]) and tensors


def test_a_crash_between_the_two_renames_of_a_save_keeps_a_loadable_pair(tmp_path: Path, monkeypatch) -> None:
    """New weights beside the old JSON: the old weights, kept as `.prev`, still load."""
    import torch

    from mmzoo.engine import checkpoint

    meta = json.loads(json.dumps(_meta()))
    checkpoint.save(tmp_path, {"w": torch.ones(3)}, meta)
    real = checkpoint.atomic_write

    def crash_on_json(path: Path, data: bytes) -> None:
        if path.suffix == ".json":
            raise KeyboardInterrupt  # killed after the weights' rename, before the JSON's
        real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write", crash_on_json)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(tmp_path, {"w": torch.full((3,), 2.0)}, meta)
    monkeypatch.setattr(checkpoint, "atomic_write", real)
    tensors, _ = checkpoint.load(tmp_path)
    assert torch.equal(tensors["w"], torch.ones(3))
    with pytest.raises(KeyboardInterrupt):  # and a second crash at the same place still keeps it
        monkeypatch.setattr(checkpoint, "atomic_write", crash_on_json)
        checkpoint.save(tmp_path, {"w": torch.full((3,), 3.0)}, meta)
    monkeypatch.setattr(checkpoint, "atomic_write", real)
    assert torch.equal(checkpoint.load(tmp_path)[0]["w"], torch.ones(3))
    checkpoint.save(tmp_path, {"w": torch.full((3,), 4.0)}, meta)
    assert torch.equal(checkpoint.load(tmp_path)[0]["w"], torch.full((3,), 4.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]


def _meta() -> dict:
    return {
        "checkpoint_format": 1,
        "model": "m",
        "config": {},
        "vocab": [".", "a"],
        "context_length": 1,
        "input_mode": "window",
        "max_length": 3,
        "data": {"source": "x", "sha256": "0"},
        "split": {"seed": 1},
        "metrics": {},
    }


@pytest.mark.slow
def test_sigusr1_prints_where_a_training_is_and_it_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "tiny.txt"
    data.write_text("\n".join(BUILTIN_NAMES.read_text().split()[:300]) + "\n")
    args = ["train", "bigram-nn", "--data", str(data), "--threads", "1", "--out", "X", "--steps", "1000000"]
    args += ["--patience", "0"]  # runs until stopped
    proc = subprocess.Popen([mmzoo_bin(), *args], cwd=tmp_path, stderr=subprocess.PIPE, preexec_fn=sigint_default)
    deadline = time.monotonic() + 60
    while not (tmp_path / "X" / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)
    time.sleep(1)
    assert proc.poll() is None, "SIGUSR1 stopped the training"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 130, text[-2000:]
    assert "Current thread" in text and "mmzoo/engine/training/trainer.py" in text, text[-2000:]
