"""The committed pretrained zoo (mmzoo/pretrained/): every file loads without torch's help,
keeps the ONNX contract, scores on the built-in corpus's val split what
its README.md says, and samples."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BUILTIN_NAMES, REPO

sys.path.insert(0, str(REPO / "scripts"))

from make_zoo import COLUMNS, builtin_models, read_table  # noqa: E402

EXPORTED = REPO / "mmzoo" / "pretrained"
TABLE = read_table(EXPORTED / "README.md")


def ort_val_loss(path: Path) -> float:
    """Mean NLL per character on the val split, from onnxruntime alone: every val
    item fed one token at a time through the runtime's own stepper."""
    from mmzoo.corpus import Vocab, read_items, split_items
    from mmzoo.runtime import OnnxModel, OrtStepper

    model = OnnxModel(path, ["cpu"])
    vocab = Vocab(tuple(model.metadata.vocab))
    items = split_items(read_items(BUILTIN_NAMES)[0], int(model.metadata.props["mmzoo.split_seed"]))["val"]
    L = max(map(len, items)) + 1
    x = np.zeros((len(items), L), dtype=np.int64)
    y = np.full((len(items), L), -1, dtype=np.int64)
    for row, item in enumerate(items):
        ids = vocab.encode(item)
        x[row, 1 : len(ids) + 1] = ids
        y[row, : len(ids)] = ids
        y[row, len(ids)] = 0
    stepper = OrtStepper(model)
    stepper.start(len(items))
    total, count = 0.0, 0
    for t in range(L):
        logits = stepper.feed(x[:, t]).astype(np.float64)  # [B, V]
        rows = y[:, t] >= 0
        z = logits[rows] - logits[rows].max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        total -= log_probs[np.arange(rows.sum()), y[rows, t]].sum()
        count += int(rows.sum())
    return total / count


def test_the_table_lists_every_builtin_model() -> None:
    assert sorted(TABLE) == sorted(builtin_models())
    files = [
        p.name for p in EXPORTED.glob("names-*.onnx") if not p.name.endswith(".gen.onnx")
    ]  # generators: test_generate
    assert sorted(files) == sorted(f"names-{m}.onnx" for m in TABLE)


@pytest.mark.parametrize("name", builtin_models())
def test_pretrained_file(name: str) -> None:
    from mmzoo.contract import REQUIRED_KEYS
    from mmzoo.runtime import OnnxSampler

    path = EXPORTED / f"names-{name}.onnx"
    assert path.is_file(), f"{path} is missing: run `make zoo`"
    row = dict(zip(COLUMNS, TABLE[name], strict=True))
    data = path.read_bytes()
    assert row["sha256"] == hashlib.sha256(data).hexdigest() and int(row["size (bytes)"]) == len(data)

    sampler = OnnxSampler(path)
    props = sampler.metadata.props
    assert set(REQUIRED_KEYS) <= set(props)
    assert props["mmzoo.model"] == name and props["mmzoo.data_source"] == "names"
    assert props["mmzoo.data_sha256"] == hashlib.sha256(BUILTIN_NAMES.read_bytes()).hexdigest()

    loss = ort_val_loss(path)
    assert loss == pytest.approx(float(row["val loss"]), abs=0.005)
    assert loss == pytest.approx(float(props["mmzoo.val_loss"]), abs=0.005)

    samples = sampler.sample(20, seed=3)
    assert len(samples) == 20 and all(set(s) <= set(sampler.metadata.vocab[1:]) for s in samples)
    assert len(set(samples)) > 1
