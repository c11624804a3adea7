"""Scale out: the streamed token store gives the same corpus, split and batches as the
in-memory path; two gloo processes train the same model as one process."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BUILTIN_NAMES, run_mmzoo
from safetensors.torch import load_file

from mmzoo.corpus import Vocab, read_items, split_items
from mmzoo.corpus import store as corpus_store
from mmzoo.corpus.store import open_store
from mmzoo.engine.data.batches import PAD, tensorize_splits
from mmzoo.engine.data.token_batches import streamed_splits
from mmzoo.engine.training.trainer import train
from mmzoo.errors import MmzooError
from mmzoo.plugins import get_zoo


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "mmzoo" / "corpora"


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_store_holds_the_same_items_vocab_and_split(tmp_path: Path, cache: Path) -> None:
    names = BUILTIN_NAMES.read_text().split()[:3000]
    # a BOM, CRLF, blank lines and stray spaces: read_items's rules apply
    path = _write(
        tmp_path / "c.txt", "\ufeff" + "\r\n".join(f"  {n} " for n in names[:10]) + "\n\n" + "\n".join(names[10:])
    )
    items, digest = read_items(path)
    store = open_store(path)
    assert store.sha256 == digest and store.tokens.dtype == np.uint8
    assert [store.item(i) for i in range(len(store))] == items
    assert store.vocab == Vocab.from_items(items)
    assert store.max_length == max(map(len, items)) + 1
    for seed in (42, 7):
        by_index = store.split(seed)
        for name, expected in split_items(items, seed).items():
            assert [items[i] for i in by_index[name]] == expected


def test_second_open_maps_the_cache_without_rebuilding(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "c.txt", "\n".join(BUILTIN_NAMES.read_text().split()[:500]) + "\n")
    first = open_store(path)
    assert (cache / first.sha256 / "tokens.npy").is_file()

    def no_build(path: Path) -> None:
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(corpus_store, "build_arrays", no_build)
    second = open_store(path)
    assert isinstance(second.tokens, np.memmap)
    assert np.array_equal(first.tokens, second.tokens) and np.array_equal(first.offsets, second.offsets)
    second.split(42)
    assert (cache / first.sha256 / "split-42.npy").is_file()
    assert np.array_equal(open_store(path).split(42)["val"], second.split(42)["val"])


def test_cjk_corpus_gets_uint16_tokens(tmp_path: Path, cache: Path) -> None:
    chars = [chr(0x4E00 + i) for i in range(600)]  # > 255 characters
    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(chars, size=rng.integers(1, 6))) for _ in range(400)]
    path = _write(tmp_path / "cjk.txt", "\n".join(lines) + "\n")
    store = open_store(path)
    items, _ = read_items(path)
    assert store.tokens.dtype == np.uint16
    assert store.vocab == Vocab.from_items(items)
    assert [store.item(i) for i in range(len(store))] == items


def test_bad_utf8_is_one_clear_error(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"anna\nbob\nc\xffd\n")
    with pytest.raises(MmzooError, match="not UTF-8 text \\(bad byte on line 3\\)"):
        open_store(path)


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_streamed_batches_equal_the_in_memory_ones(tmp_path: Path, cache: Path, small_names: Path, name: str) -> None:
    from mmzoo.corpus import load_corpus

    spec = get_zoo().model(name)
    corpus = load_corpus(str(small_names))
    model = spec.create(spec.config(), corpus.vocab.size)
    memory = tensorize_splits(corpus, 42, model)
    streamed = streamed_splits(open_store(small_names), 42, model)
    assert len(streamed["train"]) == len(memory["train"])
    for part in ("val",):  # small: materialised whole
        assert _same_examples(streamed[part].x, streamed[part].y, memory[part].x, memory[part].y)
    ix = torch.randint(0, len(memory["train"]), (256,), generator=torch.Generator().manual_seed(0))
    assert _same_examples(*streamed["train"].batch(ix), *memory["train"].batch(ix))
    real = int((memory["train"].batch(ix)[1] != PAD).sum())  # what a data-parallel step divides by
    assert streamed["train"].targets(ix) == memory["train"].targets(ix) == real


def _same_examples(xs: torch.Tensor, ys: torch.Tensor, xm: torch.Tensor, ym: torch.Tensor) -> bool:
    """Equal windows; or equal sequences, the streamed ones padded to their longest item only."""
    if ys.dim() == 2:
        T = ys.shape[1]
        if not bool((ym[:, T:] == PAD).all()):
            return False
        xm, ym = xm[:, :T], ym[:, :T]
    return torch.equal(xs, xm) and torch.equal(ys, ym)


def test_training_from_the_store_is_training_from_the_list(tmp_path: Path, cache: Path, small_names: Path) -> None:
    from mmzoo.corpus import load_corpus

    spec = get_zoo().model("mlp")
    recipe = spec.recipe.__class__(**{**spec.recipe.__dict__, "steps": 40, "batch_size": 64, "eval_every": 20})
    results = []
    for corpus, out in ((load_corpus(str(small_names)), "memory"), (open_store(small_names), "stream")):
        results.append(train(spec, corpus, spec.config(), recipe, 42, tmp_path / out, log=lambda m: None))
    assert results[0].best_val_loss == results[1].best_val_loss
    a, b = (load_file(tmp_path / out / "model.safetensors") for out in ("memory", "stream"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((tmp_path / "stream" / "model.json").read_text())
    assert meta["data"]["streamed"] is True and meta["data"]["items"] == 2000
    assert meta["split"]["sizes"] == {"train": 1600, "val": 200, "test": 200}


@pytest.mark.slow
def test_two_gloo_processes_train_the_single_process_model(tmp_path: Path, small_names: Path) -> None:
    from mmzoo.corpus import load_corpus

    common = ["train", "mlp", "--data", str(small_names), "--steps", "25", "--batch-size", "48", "--threads", "1"]
    env = {"OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    spec = get_zoo().model("mlp")  # the single-process run, in this process: what `mmzoo train` runs
    recipe = dataclasses.replace(spec.recipe, steps=25, batch_size=48)
    train(spec, load_corpus(str(small_names)), spec.make_config(None, {}), recipe, 42, tmp_path / "one", log=print)
    # the DDP run streams the corpus from the token store: both paths at once must agree
    streamed = {**env, "MMZOO_STREAM_MIN_BYTES": "0"}
    ddp = run_mmzoo(*common, "--out", str(tmp_path / "two"), "--nproc", "2", cwd=tmp_path, env=streamed, timeout=240)
    assert ddp.stderr.count("done:") == 1 and ddp.stderr.count("training mlp") == 1
    one, two = (load_file(tmp_path / run / "last.safetensors") for run in ("one", "two"))
    params = [k for k in one if k.startswith("model.")]
    assert params and max(float((one[k] - two[k]).abs().max()) for k in params) < 1e-4
    meta = json.loads((tmp_path / "two" / "model.json").read_text())
    assert meta["world_size"] == 2 and meta["metrics"]["step"] == 25 and meta["data"]["streamed"]
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [25]  # written once, by rank 0
    onnx = tmp_path / "two.onnx"
    run_mmzoo("export", str(tmp_path / "two"), "--out", str(onnx), cwd=tmp_path, env=env)
    samples = run_mmzoo("sample", str(onnx), "-n", "5", "--json", cwd=tmp_path)
    assert len(json.loads(samples.stdout)["samples"]) == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_missing_device_is_one_clear_error(
    tmp_path: Path, small_names: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmzoo.cli.app import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "mlp", "--data", str(small_names), "--device", "cuda"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mmzoo: error: --device cuda:")
    assert main(["eval", "mlp", "--device", "tpu"]) == 1
    assert capsys.readouterr().err.startswith("mmzoo: error: --device must be one of cpu, cuda, mps, auto")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_ctrl_c_stops_every_rank_and_keeps_the_checkpoint(tmp_path: Path, small_names: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    from conftest import mmzoo_bin

    # bigram-nn evaluates every 250 steps: a checkpoint is soon on disk
    args = [mmzoo_bin(), "train", "bigram-nn", "--data", str(small_names), "--steps", "1000000", "--batch-size", "64"]
    args += ["--patience", "0"]  # runs until stopped
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*args, "--out", str(tmp_path / "run"), "--nproc", "2"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    while not (tmp_path / "run" / "last.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # training, not still starting up
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does in a terminal: the whole group
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 130
    assert err.count("interrupted; best checkpoint kept") == 1 and "done:" not in err
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert meta["world_size"] == 2 and 250 <= last["step"] < 1000000
    time.sleep(1)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no rank left behind
